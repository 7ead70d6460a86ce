"""Retention: finished jobs past the plan's job_retention_days are deleted, nothing else is."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.leases.service import Completion
from spooled_queue_core.maintenance.retention import JobRetention
from spooled_queue_core.quota.admission import Admission
from spooled_queue_core.quota.limits import UNMETERED, Unmetered
from spooled_queue_core.testing import enqueue, sql

NOW = datetime.now(UTC)
#: Unmetered reports the enterprise plan's retention.
DAYS = UNMETERED.job_retention_days


async def finish(services: Services, tenant: Tenant, n: int, queue: str = "q") -> list[str]:
    ids = [await enqueue(services, tenant, queue) for _ in range(n)]
    rows = await services.leases.claim(tenant, queue, "w1", limit=n)
    await services.leases.complete_many(
        tenant, [Completion(r["id"], "w1", r["lease_id"]) for r in rows]
    )
    return ids


async def age(pool: asyncpg.Pool, ids: list[str], days: float) -> None:
    """Move jobs (creation and completion) ``days`` into the past."""
    await sql(
        pool,
        "UPDATE core.jobs SET created_at = created_at - make_interval(days => $2),"
        " completed_at = completed_at - make_interval(days => $2) WHERE id = ANY($1::text[])",
        ids,
        days,
    )


async def present(pool: asyncpg.Pool, ids: list[str]) -> set[str]:
    rows = await sql(pool, "SELECT id FROM core.jobs WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}


async def test_old_finished_jobs_go_and_everything_else_stays(
    services: Services, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    old = await finish(services, tenant, 3)
    recent = await finish(services, tenant, 2)
    waiting = [await enqueue(services, tenant, "idle")]
    cancelled = [await enqueue(services, tenant, "idle")]
    await services.jobs.cancel(tenant, cancelled[0])
    dead = [await enqueue(services, tenant, "dlq")]
    await sql(
        pool,
        "UPDATE core.jobs SET status = 'deadletter', completed_at = now() WHERE id = $1",
        dead[0],
    )
    await age(pool, old + waiting + cancelled + dead, DAYS + 1)
    await age(pool, recent, DAYS - 1)

    deleted = await JobRetention(pool, Admission(Unmetered())).run_once()

    assert deleted >= 4
    assert await present(pool, old + cancelled) == set()
    assert await present(pool, recent + waiting + dead) == set(recent + waiting + dead)
    history = await sql(
        pool, "SELECT count(*) AS n FROM core.job_history WHERE job_id = ANY($1::text[])", old
    )
    assert history[0]["n"] == 0


async def test_a_parent_stays_while_a_job_depends_on_it(
    services: Services, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    [parent] = await finish(services, tenant, 1, "parents")
    child = await enqueue(services, tenant, "parents", parent_job_id=parent)
    await age(pool, [parent], DAYS + 1)
    await JobRetention(pool, Admission(Unmetered())).run_once()
    assert await present(pool, [parent, child]) == {parent, child}


async def test_other_orgs_are_swept_with_their_own_plan(
    services: Services, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    other = Tenant(f"{tenant.org_id}-b")
    mine, theirs = await finish(services, tenant, 1), await finish(services, other, 1)
    await age(pool, mine, DAYS + 1)
    await age(pool, theirs, DAYS - 1)
    await JobRetention(pool, Admission(Unmetered())).run_once(NOW)
    assert await present(pool, mine + theirs) == set(theirs)
