"""Who may post an incoming webhook: one check per provider, all constant time.

* ``custom``: ``X-Webhook-Token`` must equal the organization's webhook token.
* ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``
  with the organization's GitHub secret. GitHub signs no timestamp; a replayed
  delivery carries the same ``X-GitHub-Delivery`` id and becomes the same job.
* ``stripe``: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
  (several ``v1`` allowed, e.g. during secret rotation) with the organization's
  Stripe endpoint secret; a ``t`` more than the tolerance (300 s) away from now is a
  replay and refused even when correctly signed.

Every refusal is 401 ``UNAUTHORIZED`` and happens before the body is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from spooled_common import errors

PROVIDERS = ("custom", "github", "stripe")


def _equal(a: str, b: str) -> bool:
    """Constant time; hashing first hides the expected value's length too."""
    return hmac.compare_digest(
        hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest()
    )


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_custom(token: str, headers: Mapping[str, str]) -> None:
    if not token:
        raise errors.Unauthorized(
            "Webhook token is not configured for this organization; "
            "see /api/v1/organizations/webhook-token"
        )
    if not _equal(token, headers.get("x-webhook-token", "")):
        raise errors.Unauthorized("Invalid or missing X-Webhook-Token")


def verify_github(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    if not secret:
        raise errors.Unauthorized("GitHub webhook secret is not configured for this organization")
    supplied = headers.get("x-hub-signature-256", "")
    expected = "sha256=" + _hmac_hex(secret, body)
    if not _equal(expected, supplied.strip().lower()):
        raise errors.Unauthorized("Invalid or missing X-Hub-Signature-256")


def parse_stripe_header(value: str) -> tuple[int | None, list[str]]:
    """(timestamp, v1 signatures) of a ``Stripe-Signature`` header."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, _, val = part.strip().partition("=")
        if key == "t" and val.isdigit():
            timestamp = int(val)
        elif key == "v1" and val:
            signatures.append(val.lower())
    return timestamp, signatures


def verify_stripe(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float, tolerance: int
) -> None:
    if not secret:
        raise errors.Unauthorized("Stripe webhook secret is not configured for this organization")
    timestamp, signatures = parse_stripe_header(headers.get("stripe-signature", ""))
    if timestamp is None or not signatures:
        raise errors.Unauthorized("Invalid or missing Stripe-Signature")
    expected = _hmac_hex(secret, f"{timestamp}.".encode() + body)
    # Compare against every v1 (never stop at the first mismatch) so timing
    # reveals nothing about which one matched.
    matched = [_equal(expected, sig) for sig in signatures]
    if not any(matched):
        raise errors.Unauthorized("Invalid or missing Stripe-Signature")
    if abs(now - timestamp) > tolerance:
        raise errors.Unauthorized(
            f"Stripe-Signature timestamp is more than {tolerance} s from now (replayed or delayed)"
        )


def verify(
    provider: str,
    credential: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    stripe_tolerance: int,
) -> None:
    """Raise ``Unauthorized`` unless the request is authentic for ``provider``."""
    if provider == "custom":
        verify_custom(credential, headers)
    elif provider == "github":
        verify_github(credential, body, headers)
    elif provider == "stripe":
        verify_stripe(credential, body, headers, now=now, tolerance=stripe_tolerance)
    else:
        raise errors.NotFound(f"Unknown webhook provider '{provider}'")
