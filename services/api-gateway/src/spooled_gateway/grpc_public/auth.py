"""Who is calling, from gRPC metadata: API keys only (no JWT), as upstream.

``x-api-key: <key>`` wins over ``authorization: Bearer <key>`` (a bare
``authorization: <key>`` is accepted too). The key itself is checked by the
same helper the REST API uses, so revocation, expiry and scopes agree.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from spooled_common import errors, tracing

from spooled_gateway.auth import authenticate
from spooled_gateway.auth.principal import Principal
from spooled_gateway.ratelimit import Limiter, rate_limited, rules_for

MISSING_CREDENTIALS = "Missing x-api-key or authorization header"

#: Long-lived streams re-check their key this often, so a revoked or narrowed
#: key stops claiming jobs within this many seconds.
STREAM_REAUTH_INTERVAL_S = 10.0


def credentials(metadata: Any) -> str:
    """The raw API key from invocation metadata; Unauthorized when absent."""
    found: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str) and key in ("x-api-key", "authorization"):
            found.setdefault(key, value.strip())
    if found.get("x-api-key"):
        return found["x-api-key"]
    auth = found.get("authorization", "")
    scheme, _, rest = auth.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else auth
    if not token:
        raise errors.Unauthorized(MISSING_CREDENTIALS)
    return token


class Authenticator:
    """Resolves a call's API key to a Principal against the gateway database.

    With a ``limiter``, every unary call and every stream opening also takes a
    token from the key's rate-limit bucket (the same bucket as REST), and an
    empty bucket is RESOURCE_EXHAUSTED with a ``retry-after`` trailer.
    """

    def __init__(self, pool: Any, limiter: Limiter | None = None) -> None:
        self._pool = pool
        self._limiter = limiter

    async def principal(self, context: grpc.aio.ServicerContext) -> Principal:
        who = await self.check(credentials(context.invocation_metadata()))
        tracing.annotate({tracing.attrs.ORG_ID: who.org_id})
        await self._rate_limit(who)
        return who

    async def _rate_limit(self, who: Principal) -> None:
        if self._limiter is None:
            return
        decision = await self._limiter.take(rules_for(who), "api_key")
        if not decision.allowed:
            raise rate_limited(decision)

    async def check(self, raw_key: str) -> Principal:
        return await authenticate.authenticate_api_key(self._pool, raw_key)

    async def session(self, context: grpc.aio.ServicerContext) -> StreamSession:
        raw = credentials(context.invocation_metadata())
        who = await self.check(raw)
        tracing.annotate({tracing.attrs.ORG_ID: who.org_id})
        await self._rate_limit(who)
        return StreamSession(self, raw, who)


class StreamSession:
    """The caller of one long-lived stream, re-validated every few seconds."""

    def __init__(self, auth: Authenticator, raw_key: str, principal: Principal) -> None:
        self._auth = auth
        self._raw_key = raw_key
        self._principal = principal
        self._checked_at = time.monotonic()

    async def principal(self) -> Principal:
        """The current Principal; raises Unauthorized once the key is revoked or expired."""
        if time.monotonic() - self._checked_at >= STREAM_REAUTH_INTERVAL_S:
            self._principal = await self._auth.check(self._raw_key)
            self._checked_at = time.monotonic()
        return self._principal
