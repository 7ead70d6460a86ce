"""JWT access and refresh tokens (HS256), and their revocation.

A login opens a *session* (``sid``) and returns an access token and a refresh
token that share it; each token also has its own id (``jti``). Logout revokes
the session, which kills every token minted for it, including access tokens
a refresh produced later. Revocations live in ``gateway.revoked_tokens`` until
the tokens they cover would have expired anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
from spooled_common import db, errors

from spooled_gateway.db import queries

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
#: A refresh token lives this many times longer than an access token.
REFRESH_FACTOR = 24
_REQUIRED = ["exp", "iat", "nbf", "sub", "jti"]


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    org_id: str
    api_key_id: str
    queues: tuple[str, ...]
    iat: int
    exp: int
    nbf: int
    jti: str
    token_type: str
    sid: str

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.iat, UTC)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "org_id": self.org_id,
            "api_key_id": self.api_key_id,
            "queues": list(self.queues),
            "iat": self.iat,
            "exp": self.exp,
            "nbf": self.nbf,
            "jti": self.jti,
            "token_type": self.token_type,
            "sid": self.sid,
        }


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access: Claims
    refresh: Claims


def lifetimes(hours: int) -> tuple[int, int]:
    """(access, refresh) lifetimes in seconds for ``JWT_EXPIRATION_HOURS``."""
    access = hours * 3600
    return access, access * REFRESH_FACTOR


def issue(
    secret: str,
    lifetime_s: int,
    *,
    org_id: str,
    api_key_id: str,
    queues: tuple[str, ...],
    token_type: str,
    sid: str,
) -> tuple[str, Claims]:
    now = int(datetime.now(UTC).timestamp())
    claims = Claims(
        sub=org_id,
        org_id=org_id,
        api_key_id=api_key_id,
        queues=tuple(queues),
        iat=now,
        exp=now + lifetime_s,
        nbf=now,
        jti=str(uuid.uuid4()),
        token_type=token_type,
        sid=sid,
    )
    return jwt.encode(claims.as_dict(), secret, algorithm=ALGORITHM), claims


def issue_pair(
    secret: str, hours: int, *, org_id: str, api_key_id: str, queues: tuple[str, ...]
) -> TokenPair:
    """Open a session: an access token and a refresh token sharing one ``sid``."""
    access_s, refresh_s = lifetimes(hours)
    sid = str(uuid.uuid4())
    common: dict[str, Any] = {
        "org_id": org_id,
        "api_key_id": api_key_id,
        "queues": queues,
        "sid": sid,
    }
    access_token, access = issue(secret, access_s, token_type=ACCESS, **common)
    refresh_token, refresh = issue(secret, refresh_s, token_type=REFRESH, **common)
    return TokenPair(access_token, refresh_token, access, refresh)


def decode(secret: str, token: str) -> Claims:
    """Verify signature, algorithm and time claims; 401 "Invalid token" otherwise.

    Only HS256 is accepted: ``alg: none`` and every other algorithm fail the
    check in PyJWT before the signature is even looked at.
    """
    try:
        raw = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": _REQUIRED})
        claims = _claims_from(raw)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise errors.Unauthorized("Invalid token") from exc
    return claims


def _claims_from(raw: dict[str, Any]) -> Claims:
    queues = raw.get("queues", [])
    strings = (raw["sub"], raw["org_id"], raw["api_key_id"], raw["jti"], raw["token_type"])
    if not all(isinstance(s, str) and s for s in strings):
        raise ValueError("malformed claims")
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise ValueError("malformed queues claim")
    if raw["token_type"] not in (ACCESS, REFRESH) or raw["sub"] != raw["org_id"]:
        raise ValueError("malformed token type or subject")
    return Claims(
        sub=raw["sub"],
        org_id=raw["org_id"],
        api_key_id=raw["api_key_id"],
        queues=tuple(queues),
        iat=int(raw["iat"]),
        exp=int(raw["exp"]),
        nbf=int(raw["nbf"]),
        jti=raw["jti"],
        token_type=raw["token_type"],
        # Tokens without a session id are their own session.
        sid=str(raw.get("sid") or raw["jti"]),
    )


async def revoke_session(pool: asyncpg.Pool, claims: Claims, *, refresh_lifetime_s: int) -> None:
    """Revoke a token and its whole session.

    The session row must outlive every token of the session; a refresh token
    minted at login expires at most ``refresh_lifetime_s`` after its own iat,
    so the session row is kept that long past this token's iat (or its exp,
    whichever is later).
    """
    session_until = max(claims.expires_at, claims.issued_at + timedelta(seconds=refresh_lifetime_s))
    async with db.translate_errors(), pool.acquire() as conn, conn.transaction():
        await conn.execute(
            queries.revoke_token, claims.jti, "jti", claims.org_id, claims.expires_at
        )
        await conn.execute(queries.revoke_token, claims.sid, "sid", claims.org_id, session_until)
        await conn.execute(queries.sweep_revoked_tokens)


async def is_revoked(pool: asyncpg.Pool, claims: Claims) -> bool:
    async with db.translate_errors(), pool.acquire() as conn:
        return bool(await conn.fetchval(queries.token_revoked, [claims.jti, claims.sid]))
