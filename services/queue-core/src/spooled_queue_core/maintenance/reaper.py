"""The lease reaper: reclaims jobs whose workers died or went silent.

Leader-free: every replica may run it, because each batch locks its rows with
``FOR UPDATE SKIP LOCKED`` and replicas simply share the work. It runs in
``maintenance_tx`` (the RLS policies admit ``app.maintenance = 'on'``).

* expired lease → pending with retry_count + 1, or dead-letter when exhausted;
* worker silent longer than ``WORKER_STALE_AFTER_SECS`` → offline, its jobs
  released the same way;
* waiting jobs whose dependencies are met → unblocked, or can never be met →
  cancelled (a safety net: the settling transaction normally does both).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from spooled_common.db import maintenance_tx

from spooled_queue_core import metrics
from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.settings import QueueCoreSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reaped:
    requeued: int = 0
    deadlettered: int = 0
    offline_workers: int = 0
    released_jobs: int = 0
    unblocked: int = 0


class Reaper:
    def __init__(self, pool: asyncpg.Pool, settings: QueueCoreSettings, channel: str) -> None:
        self._pool = pool
        self._batch = settings.reaper_batch_size
        self._stale_secs = float(settings.stale_worker_secs)
        self._channel = channel

    async def run_once(self) -> Reaped:
        requeued, dead = await self._expired_leases()
        workers, released = await self._stale_workers()
        unblocked = await self._unblock_children()
        result = Reaped(requeued, dead, workers, released, unblocked)
        if requeued or dead or workers or unblocked:
            log.info("reaper: %s", result)
        return result

    async def _expired_leases(self) -> tuple[int, int]:
        requeued = dead = 0
        while True:
            async with maintenance_tx(self._pool) as conn:
                row = await conn.fetchrow(Q.reap_expired_leases, self._batch, self._channel)
            requeued += row["requeued"]
            dead += row["deadlettered"]
            if row["requeued"] + row["deadlettered"] < self._batch:
                break
        metrics.LEASES_EXPIRED.inc(requeued + dead)
        metrics.JOBS_DEADLETTERED.inc(dead)
        return requeued, dead

    async def _stale_workers(self) -> tuple[int, int]:
        workers = jobs = 0
        while True:
            async with maintenance_tx(self._pool) as conn:
                row = await conn.fetchrow(
                    Q.reap_stale_workers, self._stale_secs, self._batch, self._channel
                )
            workers += row["workers"]
            jobs += row["jobs"]
            if row["workers"] < self._batch:
                return workers, jobs

    async def _unblock_children(self) -> int:
        async with maintenance_tx(self._pool) as conn:
            # The wake-ups go out on core.wake_channel_v1() (migration 0002).
            return int(await conn.fetchval(Q.unblock_children, self._batch))
