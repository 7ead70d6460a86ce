"""Stripe-Signature verification: HMAC over "<t>.<body>", 300 s tolerance, key rotation."""

from __future__ import annotations

import pytest
from spooled_billing.stripe import signature

SECRET = "whsec_unit"
BODY = b'{"id":"evt_1","type":"customer.subscription.updated"}'
NOW = 1_800_000_000


def test_a_signature_stripe_would_send_verifies() -> None:
    header = signature.sign(BODY, SECRET, timestamp=NOW)
    assert signature.verify(BODY, header, SECRET, now=NOW) == NOW


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.replace("v1=", "v1=0"),  # altered digest
        lambda h: h.split(",")[0],  # no v1 at all
        lambda h: "",  # no header
        lambda h: "garbage",
        lambda h: h.replace("t=", "t=x"),
    ],
)
def test_malformed_or_altered_headers_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    header = mutate(signature.sign(BODY, SECRET, timestamp=NOW))
    with pytest.raises(signature.SignatureError):
        signature.verify(BODY, header, SECRET, now=NOW)


def test_another_body_or_secret_is_refused() -> None:
    header = signature.sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(signature.SignatureError):
        signature.verify(BODY + b" ", header, SECRET, now=NOW)
    with pytest.raises(signature.SignatureError):
        signature.verify(BODY, header, "whsec_other", now=NOW)


@pytest.mark.parametrize(("skew", "ok"), [(299, True), (300, True), (301, False), (-301, False)])
def test_tolerance_window_is_300_seconds(skew: int, ok: bool) -> None:
    header = signature.sign(BODY, SECRET, timestamp=NOW)
    if ok:
        signature.verify(BODY, header, SECRET, now=NOW + skew)
    else:
        with pytest.raises(signature.SignatureError, match="tolerance"):
            signature.verify(BODY, header, SECRET, now=NOW + skew)


def test_any_of_several_v1_signatures_during_a_secret_roll() -> None:
    old = signature.sign(BODY, "whsec_old", timestamp=NOW)
    new = signature.sign(BODY, SECRET, timestamp=NOW)
    both = f"{new},{old.split(',')[1]}"
    signature.verify(BODY, both, "whsec_old", now=NOW)
    signature.verify(BODY, both, SECRET, now=NOW)


def test_refusal_is_a_400() -> None:
    with pytest.raises(signature.SignatureError) as info:
        signature.verify(BODY, "t=1,v1=00", SECRET, now=1)
    assert info.value.status == 400
