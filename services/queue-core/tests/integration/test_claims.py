"""Claim: ordering, SKIP LOCKED concurrency, paused queues, long-poll wake-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from spooled_common import errors, timefmt
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob
from spooled_queue_core.testing import claim_one, enqueue, job_row, sql


class TestClaimOrder:
    async def test_priority_first_then_fifo(self, services: Services, tenant: Tenant) -> None:
        low = await enqueue(services, tenant, priority=-5)
        first = await enqueue(services, tenant)
        high = await enqueue(services, tenant, priority=10)
        second = await enqueue(services, tenant)
        rows = await services.leases.claim(tenant, "q", "w", limit=10)
        assert [r["id"] for r in rows] == [high, first, second, low]

    async def test_bulk_batch_keeps_submission_order(
        self, services: Services, tenant: Tenant
    ) -> None:
        results = await services.jobs.create_many(tenant, [NewJob("q") for _ in range(5)])
        rows = await services.leases.claim(tenant, "q", "w", limit=5)
        assert [r["id"] for r in rows] == [r.job_id for r in results]

    async def test_claim_sets_lease_and_worker(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant, payload='{"n": 1}')
        row = await claim_one(services, tenant, worker="w9", lease_secs=60)
        assert row["id"] == job_id and row["status"] == "processing"
        assert row["assigned_worker_id"] == "w9" and row["lease_id"]
        assert row["payload"] == '{"n": 1}'
        lease = (row["lease_expires_at"] - timefmt.now()).total_seconds()
        assert 50 < lease <= 60

    async def test_each_claim_gets_a_new_lease_id(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        await enqueue(services, tenant)
        first = await claim_one(services, tenant)
        await sql(pool, "UPDATE core.jobs SET status = 'pending' WHERE id = $1", first["id"])
        second = await claim_one(services, tenant)
        assert second["lease_id"] != first["lease_id"]

    @pytest.mark.parametrize(("asked", "granted"), [(1, 5), (0, 30), (99_999, 3600)])
    async def test_lease_is_clamped(
        self, services: Services, tenant: Tenant, asked: int, granted: int
    ) -> None:
        await enqueue(services, tenant)
        row = await claim_one(services, tenant, lease_secs=asked)
        lease = (row["lease_expires_at"] - timefmt.now()).total_seconds()
        assert granted - 3 < lease <= granted

    async def test_batch_is_clamped_to_100(self, services: Services, tenant: Tenant) -> None:
        await services.jobs.create_many(tenant, [NewJob("q") for _ in range(105)])
        rows = await services.leases.claim(tenant, "q", "w", limit=500)
        assert len(rows) == 100


class TestClaimEligibility:
    async def test_skips_future_and_expired_jobs(self, services: Services, tenant: Tenant) -> None:
        now = timefmt.now()
        await enqueue(services, tenant, scheduled_at=now + timedelta(hours=1))
        await enqueue(services, tenant, expires_at=now - timedelta(seconds=1))
        due = await enqueue(services, tenant, scheduled_at=now - timedelta(seconds=1))
        rows = await services.leases.claim(tenant, "q", "w", limit=10)
        assert [r["id"] for r in rows] == [due]

    async def test_due_scheduled_job_is_claimable(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, scheduled_at=timefmt.now() + timedelta(hours=1))
        assert (await job_row(pool, job_id))["status"] == "scheduled"
        await sql(
            pool, "UPDATE core.jobs SET scheduled_at = now() - interval '1 s' WHERE id = $1", job_id
        )
        assert (await claim_one(services, tenant))["id"] == job_id

    async def test_paused_queue_hands_out_nothing(self, services: Services, tenant: Tenant) -> None:
        await enqueue(services, tenant)
        await services.queues.pause(tenant, "q", "maintenance")
        assert await services.leases.claim(tenant, "q", "w") == []
        await services.queues.resume(tenant, "q")
        assert len(await services.leases.claim(tenant, "q", "w")) == 1

    async def test_child_waits_for_parent(self, services: Services, tenant: Tenant) -> None:
        parent = await enqueue(services, tenant)
        child = await enqueue(services, tenant, parent_job_id=parent)
        claimed = await claim_one(services, tenant)
        assert claimed["id"] == parent
        assert await services.leases.claim(tenant, "q", "w") == []
        await services.leases.complete(tenant, parent, "w1", claimed["lease_id"], None)
        assert (await claim_one(services, tenant))["id"] == child

    async def test_other_queue_and_org_are_invisible(
        self, services: Services, tenant: Tenant
    ) -> None:
        await enqueue(services, tenant, "other")
        await enqueue(services, Tenant(tenant.org_id + "-x"), "q")
        assert await services.leases.claim(tenant, "q", "w") == []

    async def test_out_of_scope_queue_is_refused(self, services: Services, tenant: Tenant) -> None:
        scoped = Tenant(tenant.org_id, frozenset({"emails"}))
        with pytest.raises(errors.AccessDenied):
            await services.leases.claim(scoped, "q", "w")


class TestConcurrentClaims:
    async def test_two_claimers_never_get_the_same_job(
        self, services: Services, tenant: Tenant
    ) -> None:
        await services.jobs.create_many(tenant, [NewJob("q") for _ in range(60)])
        batches = await asyncio.gather(
            *[services.leases.claim(tenant, "q", f"w{i}", limit=7) for i in range(10)]
        )
        ids = [r["id"] for batch in batches for r in batch]
        assert len(ids) == len(set(ids)) == 60

    async def test_locked_rows_are_skipped_not_waited_on(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        first = await enqueue(services, tenant, priority=5)
        second = await enqueue(services, tenant)
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("SELECT set_config('app.current_org_id', $1, true)", tenant.org_id)
            await holder.execute("SELECT 1 FROM core.jobs WHERE id = $1 FOR UPDATE", first)
            row = await asyncio.wait_for(claim_one(services, tenant), 5)
        assert row["id"] == second


class TestLongPoll:
    async def test_wakes_for_a_job_enqueued_during_the_wait(
        self, services: Services, tenant: Tenant
    ) -> None:
        waiter = asyncio.create_task(services.leases.claim(tenant, "q", "w", wait_ms=20_000))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        job_id = await enqueue(services, tenant)
        rows = await asyncio.wait_for(waiter, 10)
        assert [r["id"] for r in rows] == [job_id]

    async def test_returns_empty_when_nothing_arrives(
        self, services: Services, tenant: Tenant
    ) -> None:
        assert await services.leases.claim(tenant, "q", "w", wait_ms=200) == []

    async def test_not_woken_by_another_queue(self, services: Services, tenant: Tenant) -> None:
        waiter = asyncio.create_task(services.leases.claim(tenant, "q", "w", wait_ms=700))
        await asyncio.sleep(0.1)
        await enqueue(services, tenant, "elsewhere")
        assert await waiter == []

    async def test_wakes_on_resume(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        await services.queues.pause(tenant, "q")
        waiter = asyncio.create_task(services.leases.claim(tenant, "q", "w", wait_ms=20_000))
        await asyncio.sleep(0.2)
        await services.queues.resume(tenant, "q")
        rows = await asyncio.wait_for(waiter, 10)
        assert [r["id"] for r in rows] == [job_id]
