"""Admission of jobs into the active set, and the caps on other resources.

Usage (the create path; DLQ retry, operator retry and workflows do the same)::

    async with admission.jobs(tenant, len(batch), largest_payload) as ticket:
        async with tenant_tx(pool, org) as conn:
            await ticket.check(conn, adding=len(batch), queues={...})
            ... INSERT ...
            ticket.admit(number_created)

Leaving the outer block refunds ``reserved - admitted`` to billing's daily
counter, whether the insert succeeded, created fewer rows (duplicates,
rejected items) or raised. A failed refund is logged and leaves the counter
high (never low): the next UTC day starts from zero anyway.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import asyncpg
from spooled_common import plans
from spooled_common.tenant import Tenant

from spooled_queue_core import metrics
from spooled_queue_core.quota import QUERIES as Q
from spooled_queue_core.quota.limits import LimitsSource, Reservation

log = logging.getLogger(__name__)


class Ticket:
    """One reservation being spent inside an insert transaction."""

    def __init__(self, org_id: str, reservation: Reservation) -> None:
        self.org_id = org_id
        self.reservation = reservation
        #: Jobs actually created; the rest of the reservation is refunded.
        self.admitted = 0

    @property
    def limits(self) -> plans.PlanLimits:
        return self.reservation.limits

    def admit(self, count: int) -> None:
        self.admitted += count

    async def check(
        self, conn: asyncpg.Connection, *, adding: int, queues: Iterable[str] = ()
    ) -> None:
        """The caps checked in the insert transaction: active jobs, then new queues.

        Raises:
            errors.QuotaExceeded: ``active_jobs`` or ``queues`` would pass the plan.
        """
        await check_active_jobs(conn, self.org_id, adding, self.limits)
        await check_new_queues(conn, self.org_id, set(queues), self.limits)


async def check_active_jobs(
    conn: asyncpg.Connection, org_id: str, adding: int, limits: plans.PlanLimits
) -> None:
    limit = limits.max_active_jobs
    if limit is None or adding <= 0:
        return
    await conn.execute(Q.lock_resource, org_id, "active_jobs")
    current = int(await conn.fetchval(Q.count_active_jobs, org_id, limit + 1))
    if plans.exceeds(limit, current, adding):
        metrics.QUOTA_REFUSALS.labels("active_jobs").inc()
        raise plans.quota_exceeded("active_jobs", current, limit, limits.tier)


async def check_new_queues(
    conn: asyncpg.Connection, org_id: str, names: set[str], limits: plans.PlanLimits
) -> None:
    """Creating jobs (or config) in a queue the org never used counts as a new queue."""
    limit = limits.max_queues
    if limit is None or not names:
        return
    known = {r["name"] for r in await conn.fetch(Q.known_queues, org_id, sorted(names))}
    if names <= known:
        return
    await conn.execute(Q.lock_resource, org_id, "queues")
    # Again under the lock: a concurrent transaction may just have created one.
    known = {r["name"] for r in await conn.fetch(Q.known_queues, org_id, sorted(names))}
    new = len(names - known)
    if not new:
        return
    current = int(await conn.fetchval(Q.count_queues, org_id, limit + 1))
    if plans.exceeds(limit, current, new):
        metrics.QUOTA_REFUSALS.labels("queues").inc()
        raise plans.quota_exceeded("queues", current, limit, limits.tier)


async def check_workers(
    conn: asyncpg.Connection, org_id: str, worker_id: str, limits: plans.PlanLimits
) -> None:
    """A new live worker (not a re-registration of a live one) counts against max_workers."""
    limit = limits.max_workers
    if limit is None:
        return
    await conn.execute(Q.lock_resource, org_id, "workers")
    if await conn.fetchval(Q.worker_is_live, org_id, worker_id):
        return
    current = int(await conn.fetchval(Q.count_live_workers, org_id, worker_id))
    if plans.exceeds(limit, current, 1):
        metrics.QUOTA_REFUSALS.labels("workers").inc()
        raise plans.quota_exceeded("workers", current, limit, limits.tier)


class Admission:
    def __init__(self, source: LimitsSource) -> None:
        self.source = source

    async def limits(self, tenant: Tenant) -> plans.PlanLimits:
        """The org's effective limits (cached briefly), for caps outside job admission."""
        return await self.source.limits(tenant.org_id)

    @contextlib.asynccontextmanager
    async def jobs(
        self, tenant: Tenant, count: int, largest_payload: int = 0
    ) -> AsyncIterator[Ticket]:
        """Reserve ``count`` jobs for the block; refund what it did not admit."""
        reservation = await self.source.reserve(tenant.org_id, count, largest_payload)
        ticket = Ticket(tenant.org_id, reservation)
        try:
            yield ticket
        finally:
            unused = reservation.reserved - ticket.admitted
            if unused > 0:
                await self._refund(tenant.org_id, unused, reservation.day)

    async def _refund(self, org_id: str, count: int, day: str) -> None:
        try:
            await self.source.refund(org_id, count, day)
            metrics.QUOTA_REFUNDS.inc(count)
        except Exception as exc:  # the counter stays high, never low
            log.warning("refund of %d job(s) for org %s failed: %s", count, org_id, exc)
