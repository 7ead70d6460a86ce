"""Fixed-window counters in Postgres for the unauthenticated endpoints.

Login and slug checks are cheap to call and must be limited before anyone is
authenticated, across replicas, with or without Redis; they are rare enough
that a row per client IP in ``gateway.rate_counters`` is the simple answer.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import Request
from spooled_common import db, errors, timefmt

from spooled_gateway.db import queries

log = logging.getLogger(__name__)

#: Failed logins allowed per client IP per window (upstream: 5 per minute).
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 60
#: Slug availability checks per client IP per minute (upstream: 60/min).
SLUG_CHECKS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class Window:
    hits: int
    resets_at: datetime

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil((self.resets_at - timefmt.now()).total_seconds()))


@functools.lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    found = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            log.error("SPOOLED_TRUSTED_PROXIES: ignoring invalid entry %r", part)
    return tuple(found)


def _trusted(addr: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: Request) -> str:
    """The client's address for per-IP limits.

    ``X-Forwarded-For`` is only believed when the TCP peer is one of
    ``SPOOLED_TRUSTED_PROXIES`` (anyone can send the header); then the
    rightmost hop that is not itself a trusted proxy is the client.
    """
    peer = request.client.host if request.client else "unknown"
    networks = _networks(request.app.state.settings.trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return peer


async def peek(pool: asyncpg.Pool, bucket: str, window_s: int) -> Window | None:
    async with db.translate_errors(), pool.acquire() as conn:
        row = await conn.fetchrow(queries.counter_peek, bucket, float(window_s))
    return Window(row["hits"], row["resets_at"]) if row else None


async def hit(pool: asyncpg.Pool, bucket: str, window_s: int) -> Window:
    async with db.translate_errors(), pool.acquire() as conn:
        row = await conn.fetchrow(queries.counter_hit, bucket, float(window_s))
        if random.random() < 0.01:  # housekeeping, not security: any RNG will do
            await conn.execute(queries.sweep_counters)
    return Window(row["hits"], row["resets_at"])


def too_many_logins(window: Window) -> errors.RateLimited:
    retry = window.retry_after_s
    return errors.RateLimited(
        "Too many login attempts. Please try again later.",
        headers={"Retry-After": str(retry)},
        details={"retry_after_seconds": retry},
        extra={"error": "rate_limit_exceeded"},
    )


async def check_login_allowed(pool: asyncpg.Pool, ip: str) -> None:
    window = await peek(pool, f"login:{ip}", LOGIN_WINDOW_S)
    if window is not None and window.hits >= LOGIN_MAX_FAILURES:
        raise too_many_logins(window)


async def record_login_failure(pool: asyncpg.Pool, ip: str) -> None:
    await hit(pool, f"login:{ip}", LOGIN_WINDOW_S)


async def check_slug_rate(pool: asyncpg.Pool, ip: str) -> None:
    window = await hit(pool, f"slug:{ip}", 60)
    if window.hits > SLUG_CHECKS_PER_MINUTE:
        retry = window.retry_after_s
        raise errors.RateLimited(
            headers={"Retry-After": str(retry)}, details={"retry_after_seconds": retry}
        )
