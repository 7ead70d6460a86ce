"""Stripe webhook signatures (the ``Stripe-Signature`` header), without the Stripe SDK.

The header reads ``t=<unix seconds>,v1=<hex>[,v1=<hex>…]``; each ``v1`` is
HMAC-SHA256 of ``"<t>." + raw body`` under the endpoint secret (several
appear while a secret is being rolled). A timestamp further than the
tolerance from now is refused, which bounds replays of a captured request;
replays inside the window are caught by the event-id dedup.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from spooled_common import errors

#: Stripe's default tolerance.
DEFAULT_TOLERANCE_SECS = 300


class SignatureError(errors.BadRequest):
    """Invalid Stripe signature."""


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header Stripe would send for ``payload`` (tests and local tooling)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_digest(payload, secret, str(ts))}"


def _digest(payload: bytes, secret: str, ts: str) -> str:
    return hmac.new(secret.encode(), ts.encode() + b"." + payload, hashlib.sha256).hexdigest()


def verify(
    payload: bytes,
    header: str,
    secret: str,
    *,
    tolerance_secs: int = DEFAULT_TOLERANCE_SECS,
    now: float | None = None,
) -> int:
    """Check the signature; returns its timestamp.

    Raises:
        SignatureError: missing/malformed header, stale timestamp or no matching v1.
    """
    ts: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            ts = value
        elif key == "v1" and value:
            candidates.append(value)
    if ts is None or not ts.isdigit() or not candidates:
        raise SignatureError("Invalid Stripe signature header")
    current = time.time() if now is None else now
    if abs(current - int(ts)) > tolerance_secs:
        raise SignatureError("Stripe signature timestamp is outside the tolerance window")
    expected = _digest(payload, secret, ts)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError()
    return int(ts)
