"""Per-organization fairness on queue-core's database pool.

One organization flooding the API (say, 50 parallel bulk enqueues) must not
hold every pooled connection while another organization's claim waits. Each
RPC runs with its organization in a context variable (``serving``); the pool
wrapper lets at most ``per_org`` of that organization's transactions hold a
connection at once. The rest of its calls queue on their own semaphore,
holding no connection, so the pool's own FIFO queue never fills with one
tenant. Maintenance work (reaper, relays) carries no organization and is not
gated.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

from spooled_queue_core import metrics

_ORG: contextvars.ContextVar[str | None] = contextvars.ContextVar("spooled_org", default=None)


@contextlib.contextmanager
def serving(org_id: str | None) -> Iterator[None]:
    """Mark the current task (an RPC) as working for ``org_id``."""
    token = _ORG.set(org_id)
    try:
        yield
    finally:
        _ORG.reset(token)


class _Gate:
    __slots__ = ("sem", "users")

    def __init__(self, size: int) -> None:
        self.sem = asyncio.Semaphore(size)
        self.users = 0


class FairPool:
    """An asyncpg pool whose ``acquire()`` is capped per organization.

    Everything else is delegated to the wrapped pool.
    """

    def __init__(self, pool: asyncpg.Pool, per_org: int) -> None:
        if per_org < 1:
            raise ValueError("per_org must be at least 1")
        self._pool = pool
        self.per_org = per_org
        self._gates: dict[str, _Gate] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def acquire(
        self, *, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._acquire(timeout)

    @contextlib.asynccontextmanager
    async def _acquire(self, timeout: float | None) -> AsyncIterator[asyncpg.Connection]:
        org = _ORG.get()
        if org is None:
            async with self._pool.acquire(timeout=timeout) as conn:
                yield conn
            return
        gate = self._gates.get(org)
        if gate is None:
            gate = self._gates[org] = _Gate(self.per_org)
        gate.users += 1
        try:
            if gate.sem.locked():
                metrics.ORG_DB_WAITS.inc()
            async with gate.sem, self._pool.acquire(timeout=timeout) as conn:
                yield conn
        finally:
            gate.users -= 1
            if gate.users == 0:
                self._gates.pop(org, None)

    def in_use(self, org_id: str) -> int:
        """Connections ``org_id`` holds right now (tests, diagnostics)."""
        gate = self._gates.get(org_id)
        return 0 if gate is None else self.per_org - gate.sem._value
