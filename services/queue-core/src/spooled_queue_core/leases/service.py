"""The worker hot path: claim (with long-poll), complete, fail, heartbeat.

A claim hands out jobs under a fresh lease (``lease_id``); settlements are
fenced by it (see :mod:`fencing`). Waiting claims sleep on the LISTEN/NOTIFY
wake-up, never on a polling loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import metrics, paging, scope
from spooled_queue_core.leases import fencing
from spooled_queue_core.leases import repository as repo
from spooled_queue_core.leases import trace as job_trace
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.wakeup import Wakeup

MIN_LEASE_SECS = 5
MAX_LEASE_SECS = 3600
MAX_CLAIM_BATCH = 100
#: Completions per CompleteJobs call (one transaction).
MAX_COMPLETE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Completion:
    """One item of a batched completion, fenced by its own lease."""

    job_id: str
    worker_id: str
    lease_id: str
    #: JSON text, or None for no result.
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """A job's state after a successful settlement call."""

    status: str
    will_retry: bool = False
    next_retry_delay_secs: int = 0
    lease_expires_at: datetime | None = None


class LeaseService:
    def __init__(self, pool: asyncpg.Pool, settings: QueueCoreSettings, wakeup: Wakeup) -> None:
        self._pool = pool
        self._settings = settings
        self._wakeup = wakeup

    def lease_secs(self, requested: int) -> int:
        return paging.clamp(
            requested, MIN_LEASE_SECS, MAX_LEASE_SECS, default=self._settings.lease_duration_secs
        )

    async def claim(
        self,
        tenant: Tenant,
        queue: str,
        worker_id: str,
        *,
        limit: int = 0,
        lease_secs: int = 0,
        wait_ms: int = 0,
    ) -> list[asyncpg.Record]:
        """Claim up to ``limit`` jobs; with ``wait_ms``, wait for one to arrive."""
        _require(queue, "queue_name")
        _require(worker_id, "worker_id")
        scope.require(tenant, queue)
        limit = paging.clamp(limit, 1, MAX_CLAIM_BATCH, default=1)
        lease = self.lease_secs(lease_secs)
        wait_s = min(max(wait_ms, 0), self._settings.max_claim_wait_ms) / 1000
        if wait_s <= 0:
            return await self._claim_once(tenant.org_id, queue, worker_id, limit, lease)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            # Subscribe before looking, so a job committed in between still wakes us.
            with self._wakeup.subscribe(tenant.org_id, queue) as woken:
                rows = await self._claim_once(tenant.org_id, queue, worker_id, limit, lease)
                remaining = deadline - loop.time()
                if rows or remaining <= 0 or self._wakeup.closing:
                    return rows
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        woken.wait(), min(remaining, self._settings.claim_recheck_secs)
                    )

    async def _claim_once(
        self, org_id: str, queue: str, worker_id: str, limit: int, lease: int
    ) -> list[asyncpg.Record]:
        async with tenant_tx(self._pool, org_id) as conn:
            rows = await repo.claim(conn, org_id, queue, worker_id, limit, lease)
        job_trace.claimed(org_id, queue, worker_id, rows)
        metrics.observe_claimed(rows)
        return rows

    async def complete(
        self, tenant: Tenant, job_id: str, worker_id: str, lease_id: str, result: str | None
    ) -> Settled:
        _require_fence(worker_id, lease_id)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.complete(
                conn,
                tenant.org_id,
                job_id,
                worker_id,
                lease_id,
                result,
                scope.queues(tenant),
            )
            if row is None:
                await self._raise_miss(conn, "complete", tenant, job_id)
        job_trace.settled("job.complete", tenant.org_id, job_id, worker_id, row)
        metrics.observe_completed((row,))
        return Settled(status=row["status"])

    async def complete_many(
        self, tenant: Tenant, items: Sequence[Completion]
    ) -> list[Settled | errors.AppError]:
        """Complete a batch in one statement and one transaction (group commit).

        Each item is fenced like :meth:`complete` and gets, in order, either
        its Settled or the error :meth:`complete` would have raised for it;
        one item's failure never affects another. A job named twice is
        completed at most once: later repeats are answered from its state
        afterwards, as a second call would be ("Job is already completed").
        """
        if len(items) > MAX_COMPLETE_BATCH:
            raise errors.ValidationError(f"At most {MAX_COMPLETE_BATCH} completions per call")
        out: list[Settled | errors.AppError | None] = [None] * len(items)
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            try:
                _require(item.job_id, "job_id")
                _require_fence(item.worker_id, item.lease_id)
            except errors.AppError as err:
                out[i] = err
                continue
            first.setdefault(item.job_id, i)
        if not first:
            return [r for r in out if r is not None]
        todo = [items[i] for i in first.values()]
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            done = await repo.complete_many(
                conn,
                tenant.org_id,
                [(c.job_id, c.worker_id, c.lease_id, c.result) for c in todo],
                scope.queues(tenant),
            )
            missed = {
                item.job_id
                for i, item in enumerate(items)
                if out[i] is None and not (first[item.job_id] == i and item.job_id in done)
            }
            states = await repo.states(conn, tenant.org_id, sorted(missed)) if missed else {}
        metrics.observe_completed(done.values())
        for job_id, row in done.items():
            job_trace.settled("job.complete", tenant.org_id, job_id, row["worker_id"], row)
        completed = Settled(status="completed")
        for i, item in enumerate(items):
            if out[i] is not None:
                continue
            if first[item.job_id] == i and item.job_id in done:
                out[i] = completed
            else:
                out[i] = fencing.miss_error("complete", states.get(item.job_id), tenant)
        return [r for r in out if r is not None]

    async def fail(
        self,
        tenant: Tenant,
        job_id: str,
        worker_id: str,
        lease_id: str,
        error: str,
        *,
        retry: bool = True,
    ) -> Settled:
        """Report a failure: retry with backoff, or dead-letter when exhausted or told to."""
        _require_fence(worker_id, lease_id)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.fail(
                conn, tenant.org_id, job_id, worker_id, lease_id, error, retry, scope.queues(tenant)
            )
            if row is None:
                await self._raise_miss(conn, "fail", tenant, job_id)
        job_trace.settled("job.fail", tenant.org_id, job_id, worker_id, row)
        metrics.observe_failed((row,))
        if row["will_retry"]:
            return Settled(row["status"], True, row["delay_secs"])
        return Settled(row["status"])

    async def heartbeat(
        self, tenant: Tenant, job_id: str, worker_id: str, lease_id: str, lease_secs: int = 0
    ) -> Settled:
        """Extend the lease to now + ``lease_secs`` (clamped 5..3600)."""
        _require_fence(worker_id, lease_id)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.heartbeat(
                conn,
                tenant.org_id,
                job_id,
                worker_id,
                lease_id,
                self.lease_secs(lease_secs),
                scope.queues(tenant),
            )
            if row is None:
                await self._raise_miss(conn, "heartbeat", tenant, job_id)
        return Settled(row["status"], lease_expires_at=row["lease_expires_at"])

    @staticmethod
    async def _raise_miss(
        conn: asyncpg.Connection, op: fencing.Operation, tenant: Tenant, job_id: str
    ) -> NoReturn:
        state = await repo.state(conn, tenant.org_id, job_id)
        raise fencing.miss_error(op, state, tenant)


def _require(value: str, name: str) -> None:
    if not value:
        raise errors.ValidationError(f"{name} is required")


def _require_fence(worker_id: str, lease_id: str) -> None:
    if not lease_id:
        raise errors.ValidationError(fencing.LEASE_REQUIRED)
    _require(worker_id, "worker_id")
