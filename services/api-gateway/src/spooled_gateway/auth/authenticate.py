"""Turn a presented credential into a :class:`Principal`.

``authenticate_api_key(pool, raw)`` serves REST and the public gRPC server
alike; ``authenticate_access_token`` is the JWT path of REST. Both re-check
the key on every call (active, not expired, org not deleted), through a cache
of at most a few seconds that this process clears whenever it revokes
anything (:func:`invalidate`).

The caches are module-level because the callers only hold a pool; entries are
keyed by ``id(pool)`` so two apps in one process (tests) never share a row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from spooled_common import db, errors, plans, timefmt

from spooled_gateway.auth import keys, tokens
from spooled_gateway.auth.cache import TtlCache
from spooled_gateway.auth.principal import Principal
from spooled_gateway.db import queries

log = logging.getLogger(__name__)

#: ``last_used`` is written at most this often per key (upstream: 5 minutes).
TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    organization_id: str
    queues: tuple[str, ...]
    rate_limit: int | None
    is_active: bool
    expires_at: datetime | None
    last_used: datetime | None
    plan_tier: str
    custom_limits: Any = None
    #: The org's effective limits, resolved once per cached lookup (not per request).
    limits: plans.PlanLimits | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> KeyRecord:
        return cls(
            id=row["id"],
            organization_id=row["organization_id"],
            queues=tuple(row["queues"]),
            rate_limit=row["rate_limit"],
            is_active=row["is_active"],
            expires_at=row["expires_at"],
            last_used=row["last_used"],
            plan_tier=row["plan_tier"],
            custom_limits=row["custom_limits"],
            limits=plans.limits_for(row["plan_tier"] or "free", row["custom_limits"]),
        )

    def check(self) -> None:
        """401 unless the key may be used right now."""
        if not self.is_active:
            raise errors.Unauthorized("API key has been revoked")
        if self.expires_at is not None and self.expires_at <= timefmt.now():
            raise errors.Unauthorized("API key has expired")
        if self.plan_tier == "deleted":
            raise errors.Unauthorized("Organization has been deactivated")


#: raw-key hash -> KeyRecord, or False for "no such key" (spares the DB from
#: a client retrying a dead key in a loop).
_keys: TtlCache[KeyRecord | bool] = TtlCache(ttl_s=3.0)
#: jti -> (KeyRecord, revoked) for the JWT path.
_sessions: TtlCache[tuple[KeyRecord, bool]] = TtlCache(ttl_s=3.0)
#: key id -> monotonic time we last queued a last_used write for it.
_touched: dict[str, float] = {}
_background: set[asyncio.Task[Any]] = set()


def invalidate() -> None:
    """Forget every cached lookup; call after revoking a key, session or org."""
    _keys.clear()
    _sessions.clear()


async def authenticate_api_key(pool: asyncpg.Pool, raw_key: str) -> Principal:
    """Authenticate a raw API key (``sp_…`` or legacy ``sk_…``).

    Args:
        pool: the gateway's asyncpg pool (``app.state.db``).
        raw_key: the key as presented, e.g. from ``Authorization: Bearer`` or
            gRPC ``x-api-key`` metadata; surrounding whitespace is ignored.

    Raises:
        errors.Unauthorized: unknown, revoked or expired key, or deleted org.
    """
    raw = raw_key.strip()
    if not keys.plausible(raw):
        raise errors.Unauthorized("Invalid API key")
    digest = keys.lookup_hash(raw)
    cache_key = (id(pool), digest)
    record = _keys.get(cache_key)
    if record is None:
        async with db.maintenance_tx(pool) as conn:
            row = await conn.fetchrow(queries.key_by_hash, digest)
        record = KeyRecord.from_row(row) if row is not None else False
        _keys.put(cache_key, record)
    if not isinstance(record, KeyRecord):
        raise errors.Unauthorized("Invalid API key")
    record.check()
    _touch_later(pool, record)
    return Principal(
        org_id=record.organization_id,
        api_key_id=record.id,
        queues=record.queues,
        via="api_key",
        expires_at=record.expires_at,
        rate_limit=record.rate_limit,
        plan_tier=record.plan_tier,
        custom_limits=record.custom_limits,
        resolved_limits=record.limits,
    )


async def session_key(pool: asyncpg.Pool, claims: tokens.Claims) -> KeyRecord:
    """The live key behind a JWT; 401 if the token or session was revoked."""
    cache_key = (id(pool), claims.jti)
    hit = _sessions.get(cache_key)
    if hit is None:
        async with db.tenant_tx(pool, claims.org_id) as conn:
            row = await conn.fetchrow(
                queries.session_key, claims.api_key_id, claims.org_id, [claims.jti, claims.sid]
            )
        if row is None:
            raise errors.Unauthorized("Invalid token")
        hit = (KeyRecord.from_row(row), bool(row["revoked"]))
        _sessions.put(cache_key, hit)
    record, revoked = hit
    if revoked:
        raise errors.Unauthorized("Token has been revoked")
    record.check()
    return record


async def authenticate_access_token(pool: asyncpg.Pool, secret: str, token: str) -> Principal:
    """Authenticate a JWT access token (refresh tokens are refused)."""
    claims = tokens.decode(secret, token)
    if claims.token_type != tokens.ACCESS:
        raise errors.Unauthorized("Invalid token type")
    record = await session_key(pool, claims)
    _touch_later(pool, record)
    # The key's *current* scope wins over the one frozen into the token.
    return Principal(
        org_id=record.organization_id,
        api_key_id=record.id,
        queues=record.queues,
        via="jwt",
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        rate_limit=record.rate_limit,
        plan_tier=record.plan_tier,
        custom_limits=record.custom_limits,
        resolved_limits=record.limits,
        token_id=claims.jti,
        session_id=claims.sid,
    )


def _touch_later(pool: asyncpg.Pool, record: KeyRecord) -> None:
    """Queue a ``last_used`` write, at most once per key per interval, off the request."""
    now = time.monotonic()
    if record.last_used is not None and timefmt.now() - record.last_used < TOUCH_INTERVAL:
        return
    last = _touched.get(record.id)
    if last is not None and now - last < TOUCH_INTERVAL.total_seconds():
        return
    if len(_touched) >= 100_000:
        _touched.clear()
    _touched[record.id] = now
    task = asyncio.get_running_loop().create_task(_touch(pool, record))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _touch(pool: asyncpg.Pool, record: KeyRecord) -> None:
    try:
        async with db.tenant_tx(pool, record.organization_id) as conn:
            await conn.execute(queries.touch_key, record.id)
    except Exception as exc:  # best effort: a lost last_used write is harmless
        log.debug("last_used update for key %s skipped: %s", record.id, exc)
