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

The reservation is asked for when the block is entered and runs alongside
the transaction. ``check`` waits for it (the caps are checked under the
limits billing answered with) unless called with ``overlap=True``: then the
caps are checked under the org's recently cached limits while the
reservation is still on its way, and ``confirm()`` — called after the
INSERT, before the commit — waits for it: a refused reservation rolls the
transaction back, and limits that changed meanwhile raise
:class:`StaleLimits` so the caller checks again under the new ones. Nothing
commits without its reservation; the enqueue path just does not pay for the
billing round trip and its own transaction one after the other.
"""

from __future__ import annotations

import asyncio
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


class StaleLimits(Exception):
    """The org's limits changed between the overlapped check and the reservation's answer."""


class Ticket:
    """One reservation being spent inside an insert transaction."""

    def __init__(
        self, org_id: str, pending: asyncio.Future[Reservation], hint: plans.PlanLimits | None
    ) -> None:
        self.org_id = org_id
        self._pending = pending
        self._hint = hint
        #: The limits the caps were last checked under.
        self._checked: plans.PlanLimits | None = None
        #: Jobs actually created; the rest of the reservation is refunded.
        self.admitted = 0

    async def reservation(self) -> Reservation:
        """Billing's answer (raises its QuotaExceeded / PayloadTooLarge)."""
        return await asyncio.shield(self._pending)

    def admit(self, count: int) -> None:
        self.admitted += count

    async def check(
        self,
        conn: asyncpg.Connection,
        *,
        adding: int,
        queues: Iterable[str] = (),
        overlap: bool = False,
    ) -> None:
        """The caps checked in the insert transaction: active jobs, then new queues.

        With ``overlap`` and cached limits at hand, the check does not wait for
        the reservation; the caller must then ``confirm()`` before committing.

        Raises:
            errors.QuotaExceeded: ``active_jobs`` or ``queues`` would pass the plan.
        """
        if overlap and self._hint is not None:
            limits = self._hint
        else:
            limits = (await self.reservation()).limits
        self._checked = limits
        await check_active_jobs(conn, self.org_id, adding, limits)
        await check_new_queues(conn, self.org_id, set(queues), limits)

    async def confirm(self) -> None:
        """Before commit: the reservation was granted, under the limits the caps were checked with.

        Raises:
            errors.QuotaExceeded / errors.PayloadTooLarge: billing refused it.
            StaleLimits: the plan changed meanwhile; check again (the reservation stands).
        """
        got = await self.reservation()
        if self._checked is not None and got.limits != self._checked:
            self._hint = None
            raise StaleLimits


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
        pending = asyncio.ensure_future(self.source.reserve(tenant.org_id, count, largest_payload))
        cached = getattr(self.source, "cached", None)
        ticket = Ticket(tenant.org_id, pending, cached(tenant.org_id) if cached else None)
        try:
            yield ticket
        finally:
            try:
                reservation: Reservation | None = await pending
            except Exception:
                reservation = None  # refused or failed: nothing was counted
            if reservation is not None:
                unused = reservation.reserved - ticket.admitted
                if unused > 0:
                    await self._refund(tenant.org_id, unused, reservation.day)

    async def _refund(self, org_id: str, count: int, day: str) -> None:
        try:
            await self.source.refund(org_id, count, day)
            metrics.QUOTA_REFUNDS.inc(count)
        except Exception as exc:  # the counter stays high, never low
            log.warning("refund of %d job(s) for org %s failed: %s", count, org_id, exc)
