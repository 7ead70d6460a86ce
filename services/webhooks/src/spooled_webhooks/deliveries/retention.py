"""Retention: deliveries (with their attempts) and the inbound log older than the window go,
and so do own events published more than a day ago."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from spooled_common.db import maintenance_tx

from spooled_webhooks.db import QUERIES as Q

log = logging.getLogger(__name__)

BATCH = 5000
#: Published rows of webhooks.outbox are kept this long (for inspection).
OUTBOX_RETENTION_SECS = 24 * 3600.0


async def sweep(pool: asyncpg.Pool, retention_secs: float) -> int:
    """Delete in batches until a batch comes back short; returns rows deleted."""
    deleted = 0
    for query in (Q.delete_old_deliveries, Q.delete_old_inbound):
        while True:
            async with maintenance_tx(pool) as conn:
                status = await conn.execute(query, retention_secs, BATCH)
            n = int(status.split()[-1])
            deleted += n
            if n < BATCH:
                break
    async with maintenance_tx(pool) as conn:
        status = await conn.execute(Q.delete_published_outbox, OUTBOX_RETENTION_SECS)
    return deleted + int(status.split()[-1])


class RetentionLoop:
    def __init__(self, pool: asyncpg.Pool, retention_secs: float, interval_secs: float) -> None:
        self._pool = pool
        self._retention = retention_secs
        self._interval = interval_secs
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                n = await sweep(self._pool, self._retention)
                if n:
                    log.info("retention removed %d delivery and inbound log rows", n)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("retention sweep failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(self._interval)
