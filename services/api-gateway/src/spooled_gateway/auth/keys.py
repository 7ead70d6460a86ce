"""API key material: minting, hashing, and the shape a raw key must have.

A raw key is ``sp_<env>_`` + base64url (no padding) of 32 random bytes, shown
to its owner once. We keep only ``sha256(raw)`` as hex: with 256 bits of
entropy there is nothing to brute-force, so a fast hash is as safe as bcrypt
here and lets authentication be one indexed lookup instead of a ~250 ms bcrypt
verification per request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

#: Current prefix, and the legacy one older deployments minted.
PREFIX = "sp_"
LEGACY_PREFIX = "sk_"
#: Characters of the raw key kept for display (``sp_test_AbCd``).
DISPLAY_PREFIX_LEN = 12
_RANDOM_BYTES = 32
#: Longest string we bother hashing; real keys are 51 characters.
MAX_KEY_LEN = 256


@dataclass(frozen=True, slots=True)
class NewKey:
    #: Shown to the caller once, never stored.
    raw: str
    lookup_hash: str
    key_prefix: str


def lookup_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def mint(env: str) -> NewKey:
    """A fresh key for environment ``live`` or ``test``."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(_RANDOM_BYTES)).rstrip(b"=").decode()
    raw = f"{PREFIX}{env}_{body}"
    return NewKey(raw=raw, lookup_hash=lookup_hash(raw), key_prefix=raw[:DISPLAY_PREFIX_LEN])


def plausible(raw: str) -> bool:
    """Cheap shape check before touching the database."""
    return raw.startswith((PREFIX, LEGACY_PREFIX)) and 10 <= len(raw) <= MAX_KEY_LEN
