"""Dead-letter queue: bulk retry (ids > queue > all, oldest first) and purge."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from spooled_common import errors, timefmt
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.testing import claim_one, enqueue, sql


async def dead(services: Services, tenant: Tenant, queue: str = "q") -> str:
    job_id = await enqueue(services, tenant, queue, max_retries=0)
    lease = (await claim_one(services, tenant, queue))["lease_id"]
    await services.leases.fail(tenant, job_id, "w1", lease, "boom")
    return job_id


class TestRetryDeadLetters:
    async def test_by_ids_wins_over_queue(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        a, b = await dead(services, tenant, "a"), await dead(services, tenant, "b")
        out = await services.dlq.retry(tenant, job_ids=[b, "unknown"], queue="a")
        assert out.retried == [b] and out.skipped == ["unknown"]
        [row] = await sql(
            pool, "SELECT status, retry_count, last_error FROM core.jobs WHERE id = $1", b
        )
        assert tuple(row) == ("pending", 0, None)
        assert await sql(pool, "SELECT 1 FROM core.dead_letter_queue WHERE job_id = $1", b) == []
        assert (
            len(await sql(pool, "SELECT 1 FROM core.dead_letter_queue WHERE job_id = $1", a)) == 1
        )

    async def test_by_queue_oldest_first_with_limit(
        self, services: Services, tenant: Tenant
    ) -> None:
        first, second = await dead(services, tenant), await dead(services, tenant)
        await dead(services, tenant, "other")
        out = await services.dlq.retry(tenant, queue="q", limit=1)
        assert out.retried == [first]
        out = await services.dlq.retry(tenant, queue="q")
        assert out.retried == [second]

    async def test_all_queues_in_scope(self, services: Services, tenant: Tenant) -> None:
        a, b = await dead(services, tenant, "a"), await dead(services, tenant, "b")
        scoped = Tenant(tenant.org_id, frozenset({"a"}))
        assert (await services.dlq.retry(scoped)).retried == [a]
        assert (await services.dlq.retry(tenant)).retried == [b]
        with pytest.raises(errors.AccessDenied):
            await services.dlq.retry(scoped, queue="b")

    async def test_retried_jobs_are_claimable(self, services: Services, tenant: Tenant) -> None:
        job_id = await dead(services, tenant)
        await services.dlq.retry(tenant)
        assert (await claim_one(services, tenant))["id"] == job_id


class TestPurgeDeadLetters:
    async def test_purges_by_queue_age_and_limit(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        old = await dead(services, tenant)
        await sql(
            pool, "UPDATE core.jobs SET created_at = now() - interval '2 days' WHERE id = $1", old
        )
        recent = await dead(services, tenant)
        other = await dead(services, tenant, "other")
        cutoff = timefmt.now() - timedelta(days=1)
        assert await services.dlq.purge(tenant, older_than=cutoff) == 1
        assert await sql(pool, "SELECT 1 FROM core.jobs WHERE id = $1", old) == []
        assert await sql(pool, "SELECT 1 FROM core.dead_letter_queue WHERE job_id = $1", old) == []
        assert await services.dlq.purge(tenant, queue="q") == 1
        assert await services.dlq.purge(tenant, limit=5) == 1
        remaining = await sql(pool, "SELECT id FROM core.jobs WHERE id = ANY($1)", [recent, other])
        assert remaining == []

    async def test_leaves_other_statuses_alone(self, services: Services, tenant: Tenant) -> None:
        await enqueue(services, tenant)
        assert await services.dlq.purge(tenant) == 0
        assert (await services.jobs.stats(tenant, None))["pending"] == 1
