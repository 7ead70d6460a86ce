"""Request headers of an outgoing webhook, in both signature schemes.

A receiver may verify either:

* **Spooled (upstream)**: ``X-Spooled-Signature: sha256=<hex HMAC-SHA256(secret,
  "<X-Spooled-Timestamp>.<raw body>")>``, with ``X-Spooled-Event``,
  ``X-Spooled-Timestamp`` (unix seconds) and ``X-Spooled-Delivery-Attempt``
  (1-based). The HMAC key is the secret string as configured.
* **Standard Webhooks** (standardwebhooks.com): ``webhook-id`` (the delivery id,
  the same on every attempt), ``webhook-timestamp`` (unix seconds) and
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>``.
  The spec serializes secrets as ``whsec_<base64 key>``: a configured secret of
  that form is decoded to its key; any other secret string *is* the key, so its
  Standard Webhooks form is ``whsec_`` + base64(secret) (:func:`standard_secret`).

Without a secret no signature header of either scheme is sent (upstream sends
such deliveries unsigned); ids and timestamps still are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

USER_AGENT = "Spooled-OutgoingWebhook/1.0"
WHSEC_PREFIX = "whsec_"


def spooled_signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature for a configured secret."""
    if secret.startswith(WHSEC_PREFIX):
        try:
            return base64.b64decode(secret[len(WHSEC_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def standard_secret(secret: str) -> str:
    """The ``whsec_…`` string a receiver gives a Standard Webhooks library."""
    if secret.startswith(WHSEC_PREFIX) and standard_key(secret) != secret.encode():
        return secret
    return WHSEC_PREFIX + base64.b64encode(secret.encode()).decode()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(
    *,
    event: str,
    delivery_id: str,
    attempt: int,
    secret: str | None,
    body: bytes,
    timestamp: int,
) -> dict[str, str]:
    """Every header of one attempt (the timestamp is the attempt's, not the event's)."""
    out = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Spooled-Event": event,
        "X-Spooled-Timestamp": str(timestamp),
        "X-Spooled-Delivery-Attempt": str(attempt),
        "X-Spooled-Delivery-Id": delivery_id,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        out["X-Spooled-Signature"] = spooled_signature(secret, timestamp, body)
        out["webhook-signature"] = standard_signature(secret, delivery_id, timestamp, body)
    return out
