"""The daily job counter: reserve before an enqueue, refund what was not created.

One conditional upsert per reservation (``reserve_jobs``) makes it atomic:
fifty concurrent bulk enqueues against a limit of 1,000 admit exactly 1,000
jobs. A batch is admitted whole or not at all (upstream ``current + n >
limit`` semantics). The counter is keyed by UTC day, so it starts from zero
at UTC midnight; refunds go back to the day of the reservation.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from spooled_common import errors, plans
from spooled_common.db import maintenance_tx, tenant_tx

from spooled_billing import metrics
from spooled_billing.db import QUERIES as Q
from spooled_billing.plans import repository as plan_repo

#: One reservation may not ask for more than this (a bulk is at most 1,000).
MAX_RESERVATION = 100_000


@dataclass(frozen=True, slots=True)
class Reservation:
    reserved: int
    day: str
    jobs_today: int
    limits: plans.PlanLimits


@dataclass(frozen=True, slots=True)
class DailyCount:
    day: str
    jobs_today: int


class UsageService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def reserve(self, org_id: str, count: int, largest_payload: int = 0) -> Reservation:
        """Reserve ``count`` jobs for today, or raise the matching plan error.

        Raises:
            errors.PayloadTooLarge: the largest payload is over the plan's size.
            errors.QuotaExceeded: ``jobs_per_day`` would pass the limit.
        """
        if not 0 <= count <= MAX_RESERVATION:
            raise errors.ValidationError(f"count must be within 0..{MAX_RESERVATION}")
        async with tenant_tx(self._pool, org_id) as conn:
            plan = await plan_repo.get(conn, org_id)
            limits = plan.limits
            if largest_payload > limits.max_payload_size_bytes:
                raise plans.payload_too_large(
                    largest_payload, limits.max_payload_size_bytes, limits.tier
                )
            row = await conn.fetchrow(Q.reserve_jobs, org_id, count, limits.max_jobs_per_day)
            if row is None:
                today = await conn.fetchrow(Q.jobs_today, org_id)
                metrics.REFUSED.labels("jobs_per_day").inc()
                raise plans.quota_exceeded(
                    "jobs_per_day",
                    int(today["jobs_created"]),
                    int(limits.max_jobs_per_day or 0),
                    limits.tier,
                )
        metrics.RESERVED.inc(count)
        return Reservation(count, row["day"], int(row["jobs_created"]), limits)

    async def refund(self, org_id: str, count: int, day: str) -> DailyCount:
        """Return ``count`` unused jobs to the counter of ``day`` (never below zero)."""
        if count < 0:
            raise errors.ValidationError("count must not be negative")
        async with tenant_tx(self._pool, org_id) as conn:
            row = await conn.fetchrow(Q.refund_jobs, org_id, count, day) if count else None
            if row is None:
                row = await conn.fetchrow(Q.jobs_today, org_id)
        metrics.REFUNDED.inc(count)
        return DailyCount(row["day"], int(row["jobs_created"]))

    async def today(self, org_id: str) -> DailyCount:
        async with tenant_tx(self._pool, org_id) as conn:
            row = await conn.fetchrow(Q.jobs_today, org_id)
        return DailyCount(row["day"], int(row["jobs_created"]))

    async def reset_today(self, org_id: str) -> DailyCount:
        async with tenant_tx(self._pool, org_id) as conn:
            await conn.execute(Q.reset_today, org_id)
            row = await conn.fetchrow(Q.jobs_today, org_id)
        return DailyCount(row["day"], int(row["jobs_created"]))

    async def sweep(self, retention_days: int) -> None:
        """Delete counters older than the retention (and Stripe ids past any retry)."""
        async with maintenance_tx(self._pool) as conn:
            await conn.execute(Q.sweep_daily_usage, retention_days)
            await conn.execute(Q.sweep_stripe_events, max(retention_days, 30))
