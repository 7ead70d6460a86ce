"""The gateway's limiter: shared buckets when Redis answers, this replica's otherwise.

Redis is optional. Without ``REDIS_URL`` every replica enforces the plan's
rate on its own (a client spread over N replicas may get up to N times the
rate). With it, all replicas share one bucket per API key. When Redis stops
answering, requests fall back to the replica's own buckets at once (no
error, no waiting beyond a 250 ms socket timeout) and Redis is tried again
after ``RETRY_AFTER_FAILURE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from redis.exceptions import RedisError
from spooled_common import errors

from spooled_gateway.ratelimit.buckets import Decision, LocalBuckets, Rule

log = logging.getLogger(__name__)

#: After a Redis failure, this replica uses its own buckets for this long.
RETRY_AFTER_FAILURE_S = 5.0


class Limiter:
    def __init__(self, redis_url: str = "") -> None:
        self.local = LocalBuckets()
        self._redis = None
        if redis_url:
            from spooled_gateway.ratelimit.redis_buckets import RedisBuckets

            self._redis = RedisBuckets(redis_url)
        self._down_until = 0.0

    @property
    def configured(self) -> bool:
        return self._redis is not None

    @property
    def shared(self) -> bool:
        """True while decisions come from Redis (configured and not failing)."""
        return self._redis is not None and time.monotonic() >= self._down_until

    async def take(self, rules: Sequence[Rule], scope: str) -> Decision:
        if self._redis is not None and time.monotonic() >= self._down_until:
            try:
                decision = await self._redis.take(rules)
                return replace(decision, scope=scope, shared=True)
            except (RedisError, OSError, TimeoutError) as exc:
                if time.monotonic() >= self._down_until:
                    log.warning(
                        "rate limits: Redis unavailable (%s); using this replica's buckets "
                        "for %.0f s",
                        exc,
                        RETRY_AFTER_FAILURE_S,
                    )
                self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_S
        return replace(self.local.take(rules), scope=scope)

    async def redis_ok(self) -> bool | None:
        """None without Redis; otherwise whether it answers a PING now."""
        if self._redis is None:
            return None
        try:
            return await self._redis.ping()
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.close()


def rate_limited(decision: Decision, message: str = "Rate limit exceeded") -> errors.RateLimited:
    """429 ``RATE_LIMIT_EXCEEDED`` with Retry-After (upstream's body fields too)."""
    retry = decision.retry_after_secs
    return errors.RateLimited(
        message,
        headers={"Retry-After": str(retry)},
        details={"retry_after_seconds": retry},
        extra={
            "error": "Rate limit exceeded",
            "retry_after_secs": retry,
            "limit": decision.limit,
            "remaining": 0,
            "reset_at": int(time.time() + decision.reset_after + 0.999),
        },
    )


@dataclass
class _Gate:
    sem: asyncio.Semaphore
    users: int = 0


class InflightGate:
    """At most ``per_org`` requests of one organization in progress on this replica.

    Further requests wait (holding no database connection and no queue-core
    call) up to ``wait_s`` for a slot, then get 429. Other organizations never
    wait behind them: each has its own semaphore.
    """

    def __init__(self, per_org: int, wait_s: float) -> None:
        self.per_org = per_org
        self.wait_s = wait_s
        self._gates: dict[str, _Gate] = {}

    async def enter(self, org_id: str) -> Slot:
        gate = self._gates.get(org_id)
        if gate is None:
            gate = self._gates[org_id] = _Gate(asyncio.Semaphore(self.per_org))
        gate.users += 1
        try:
            if self.wait_s <= 0 and gate.sem.locked():
                raise TimeoutError  # no waiting configured: refuse at once
            await asyncio.wait_for(gate.sem.acquire(), max(self.wait_s, 0.0) or None)
        except TimeoutError:
            self._leave(org_id, gate)
            decision = Decision(False, self.per_org, 0, 1.0, 1.0, scope="concurrency")
            raise rate_limited(
                decision, f"Too many concurrent requests for this organization (> {self.per_org})"
            ) from None
        return Slot(self, org_id, gate)

    def _leave(self, org_id: str, gate: _Gate) -> None:
        gate.users -= 1
        if gate.users == 0 and self._gates.get(org_id) is gate:
            del self._gates[org_id]

    def in_flight(self, org_id: str) -> int:
        gate = self._gates.get(org_id)
        return 0 if gate is None else self.per_org - gate.sem._value


class Slot:
    """One admitted request; ``release()`` is idempotent."""

    def __init__(self, owner: InflightGate, org_id: str, gate: _Gate) -> None:
        self._owner, self._org, self._gate = owner, org_id, gate
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.sem.release()
            self._owner._leave(self._org, self._gate)
