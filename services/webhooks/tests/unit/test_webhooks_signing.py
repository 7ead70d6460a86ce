"""Both signature schemes, checked against the receiver-side helpers (written from the specs)."""

from __future__ import annotations

import base64
import time

from spooled_testing.receiver import Received, spooled_signature_ok, standard_signature_ok, whsec
from spooled_webhooks.sending import signing

BODY = b'{"id":"d-1","event":"job.completed","created_at":"2026-01-01T00:00:00.000000Z","data":{}}'


def received(headers: dict[str, str]) -> Received:
    return Received("/", {k.lower(): v for k, v in headers.items()}, BODY, time.time())


def sign(secret: str | None, *, ts: int | None = None) -> dict[str, str]:
    return signing.headers(
        event="job.completed",
        delivery_id="d-1",
        attempt=3,
        secret=secret,
        body=BODY,
        timestamp=ts or int(time.time()),
    )


def test_spec_example_of_the_upstream_scheme() -> None:
    # sha256=hex(HMAC-SHA256("secret", "1700000000.{}"))
    assert signing.spooled_signature("secret", 1700000000, b"{}") == (
        "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
    )


def test_headers_carry_both_schemes() -> None:
    h = sign("plain-secret")
    assert h["X-Spooled-Event"] == "job.completed"
    assert h["X-Spooled-Delivery-Attempt"] == "3"
    assert h["webhook-id"] == "d-1" and h["webhook-timestamp"] == h["X-Spooled-Timestamp"]
    assert h["X-Spooled-Signature"].startswith("sha256=")
    assert h["webhook-signature"].startswith("v1,")
    r = received(h)
    assert spooled_signature_ok("plain-secret", r)
    assert standard_signature_ok(whsec("plain-secret"), r)
    assert not spooled_signature_ok("other", r)
    assert not standard_signature_ok(whsec("other"), r)


def test_whsec_secrets_are_decoded_for_standard_webhooks() -> None:
    key = b"\x01\x02binary-key-bytes-32-long-enough!"
    secret = "whsec_" + base64.b64encode(key).decode()
    assert signing.standard_key(secret) == key
    assert signing.standard_secret(secret) == secret
    r = received(sign(secret))
    assert standard_signature_ok(secret, r)
    # The upstream scheme keys with the configured string as is.
    assert spooled_signature_ok(secret, r)


def test_invalid_whsec_is_a_plain_secret() -> None:
    secret = "whsec_not base64!"
    assert signing.standard_key(secret) == secret.encode()
    assert signing.standard_secret(secret) == whsec(secret)
    assert standard_signature_ok(whsec(secret), received(sign(secret)))


def test_stale_timestamp_fails_standard_verification() -> None:
    r = received(sign("s", ts=int(time.time()) - 3600))
    assert not standard_signature_ok(whsec("s"), r)
    assert spooled_signature_ok("s", r)  # the upstream scheme leaves freshness to the receiver


def test_unsigned_without_secret() -> None:
    h = sign(None)
    assert "X-Spooled-Signature" not in h and "webhook-signature" not in h
    assert h["webhook-id"] == "d-1"


def test_standard_webhooks_published_test_vector() -> None:
    """The vector the Standard Webhooks reference libraries are tested with."""
    assert (
        signing.standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
