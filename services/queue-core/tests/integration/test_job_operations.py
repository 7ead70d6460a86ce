"""Create (idempotency, bulk), reads and operator actions on jobs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from spooled_common import errors, timefmt
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs import repository
from spooled_queue_core.jobs.models import JobFilter, NewJob
from spooled_queue_core.queues.models import QueueUpdate
from spooled_queue_core.testing import claim_one, enqueue, job_row, sql


class TestCreate:
    async def test_defaults_come_from_settings(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        row = await job_row(pool, await enqueue(services, tenant))
        assert (row["status"], row["max_retries"], row["timeout_seconds"]) == ("pending", 3, 300)
        assert row["payload"] is None  # JSON null, decoded

    async def test_defaults_come_from_queue_config(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        await services.queues.update_config(
            tenant, "q", QueueUpdate(max_retries=7, default_timeout=42)
        )
        row = await job_row(pool, await enqueue(services, tenant))
        assert (row["max_retries"], row["timeout_seconds"]) == (7, 42)
        row = await job_row(pool, await enqueue(services, tenant, max_retries=1))
        assert row["max_retries"] == 1

    async def test_future_schedule_is_scheduled(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        soon = timefmt.now() + timedelta(minutes=5)
        assert (await job_row(pool, await enqueue(services, tenant, scheduled_at=soon)))[
            "status"
        ] == "scheduled"
        past = timefmt.now() - timedelta(minutes=5)
        assert (await job_row(pool, await enqueue(services, tenant, scheduled_at=past)))[
            "status"
        ] == "pending"

    async def test_idempotency_key_returns_the_existing_job(
        self, services: Services, tenant: Tenant
    ) -> None:
        first = await services.jobs.create(tenant, NewJob("q", '{"a": 1}', idempotency_key="k1"))
        again = await services.jobs.create(
            tenant, NewJob("other", '{"b": 2}', priority=9, idempotency_key="k1")
        )
        assert first.created and not again.created
        assert again.job_id == first.job_id
        job = await services.jobs.get(tenant, first.job_id)
        assert (job["queue_name"], job["payload"], job["priority"]) == ("q", '{"a": 1}', 0)

    async def test_idempotency_is_per_organization(
        self, services: Services, tenant: Tenant
    ) -> None:
        mine = await services.jobs.create(tenant, NewJob("q", idempotency_key="shared"))
        theirs = await services.jobs.create(
            Tenant(tenant.org_id + "-b"), NewJob("q", idempotency_key="shared")
        )
        assert mine.created and theirs.created and mine.job_id != theirs.job_id

    async def test_bulk_reports_per_item_and_collapses_in_batch_duplicates(
        self, services: Services, tenant: Tenant
    ) -> None:
        existing = await services.jobs.create(tenant, NewJob("q", idempotency_key="old"))
        results = await services.jobs.create_many(
            tenant,
            [
                NewJob("q", idempotency_key="a"),
                NewJob("q", idempotency_key="old"),
                NewJob("q", idempotency_key="a"),
                NewJob("q", priority=500),
                NewJob("q"),
            ],
        )
        assert [r.index for r in results] == [0, 1, 2, 3, 4]
        assert [r.created for r in results] == [True, False, False, False, True]
        assert results[1].job_id == existing.job_id
        assert results[2].job_id == results[0].job_id
        assert results[3].error == "priority must be between -100 and 100"
        stats = await services.jobs.stats(tenant, "q")
        assert stats["pending"] == 3

    async def test_bulk_rejects_out_of_scope_items_only(
        self, services: Services, tenant: Tenant
    ) -> None:
        scoped = Tenant(tenant.org_id, frozenset({"q"}))
        results = await services.jobs.create_many(scoped, [NewJob("q"), NewJob("secret")])
        assert results[0].created and results[1].error is not None
        assert "permission" in results[1].error

    async def test_out_of_scope_create_is_access_denied(
        self, services: Services, tenant: Tenant
    ) -> None:
        scoped = Tenant(tenant.org_id, frozenset({"q"}))
        with pytest.raises(errors.AccessDenied):
            await services.jobs.create(scoped, NewJob("secret"))

    async def test_parent_must_exist_in_the_same_queue(
        self, services: Services, tenant: Tenant
    ) -> None:
        parent = await enqueue(services, tenant, "a")
        with pytest.raises(errors.ValidationError, match="parent_job_id"):
            await enqueue(services, tenant, "b", parent_job_id=parent)
        with pytest.raises(errors.ValidationError, match="parent_job_id"):
            await enqueue(services, tenant, "a", parent_job_id="missing")

    async def test_invalid_json_payload_is_a_validation_error(
        self, services: Services, tenant: Tenant
    ) -> None:
        with pytest.raises(errors.ValidationError):
            await enqueue(services, tenant, payload="{not json")

    async def test_check_constraints_refuse_bad_values(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        for column, value in (("priority", 101), ("max_retries", -1), ("timeout_seconds", 0)):
            with pytest.raises(errors.ValidationError, match=column.split("_")[0]):
                async with tenant_tx(pool, tenant.org_id) as conn:
                    await conn.execute(
                        f"UPDATE core.jobs SET {column} = $1 WHERE id = $2", value, job_id
                    )
        with pytest.raises(errors.ValidationError, match="jobs_status_valid"):
            async with tenant_tx(pool, tenant.org_id) as conn:
                await repository.insert(conn, tenant.org_id, [("x", NewJob("q"))], (3, 300), "c")
                await conn.execute("UPDATE core.jobs SET status = 'bogus' WHERE id = 'x'")


class TestReads:
    async def test_get_respects_scope(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant, "private")
        with pytest.raises(errors.NotFound):
            await services.jobs.get(Tenant(tenant.org_id, frozenset({"q"})), job_id)
        with pytest.raises(errors.NotFound):
            await services.jobs.get(Tenant("someone-else"), job_id)

    async def test_list_filters_orders_and_pages(self, services: Services, tenant: Tenant) -> None:
        a = await enqueue(services, tenant, "q", tags='{"vip": true}', payload='{"job_type": "x"}')
        b = await enqueue(services, tenant, "q", priority=5)
        c = await enqueue(services, tenant, "r", idempotency_key="order-77")
        rows, more = await services.jobs.list_jobs(tenant, JobFilter(limit=2))
        assert [r["id"] for r in rows] == [c, b] and more
        rows, more = await services.jobs.list_jobs(tenant, JobFilter(limit=2, offset=2))
        assert [r["id"] for r in rows] == [a] and not more
        by_priority, _ = await services.jobs.list_jobs(tenant, JobFilter(order_by="priority"))
        assert by_priority[0]["id"] == b
        assert [
            r["id"] for r in (await services.jobs.list_jobs(tenant, JobFilter(tag="vip")))[0]
        ] == [a]
        assert [
            r["id"] for r in (await services.jobs.list_jobs(tenant, JobFilter(q="order-7")))[0]
        ] == [c]
        assert [
            r["id"] for r in (await services.jobs.list_jobs(tenant, JobFilter(job_type="x")))[0]
        ] == [a]
        assert len((await services.jobs.list_jobs(tenant, JobFilter(queue_name="q")))[0]) == 2
        scoped = Tenant(tenant.org_id, frozenset({"r"}))
        assert [r["id"] for r in (await services.jobs.list_jobs(scoped, JobFilter()))[0]] == [c]

    async def test_list_rejects_unknown_status(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.ValidationError):
            await services.jobs.list_jobs(tenant, JobFilter(statuses=["nope"]))

    async def test_batch_status(self, services: Services, tenant: Tenant) -> None:
        a = await enqueue(services, tenant)
        rows = await services.jobs.batch_status(tenant, [a, "missing"])
        assert [r["id"] for r in rows] == [a]
        with pytest.raises(errors.ValidationError):
            await services.jobs.batch_status(tenant, [str(i) for i in range(101)])

    async def test_stats_count_every_status(self, services: Services, tenant: Tenant) -> None:
        await enqueue(services, tenant)
        await enqueue(services, tenant, scheduled_at=timefmt.now() + timedelta(hours=1))
        await claim_one(services, tenant)
        stats = dict(await services.jobs.stats(tenant, None))
        assert stats == {
            "pending": 0,
            "scheduled": 1,
            "processing": 1,
            "completed": 0,
            "failed": 0,
            "deadletter": 0,
            "cancelled": 0,
            "total": 2,
        }


class TestOperatorActions:
    async def test_cancel_pending_only(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        row = await services.jobs.cancel(tenant, job_id)
        assert row["status"] == "cancelled" and row["completed_at"] is not None
        with pytest.raises(errors.Conflict, match="cannot be cancelled"):
            await services.jobs.cancel(tenant, job_id)
        with pytest.raises(errors.NotFound):
            await services.jobs.cancel(tenant, "missing")

    async def test_cancel_processing_is_conflict(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        await claim_one(services, tenant)
        with pytest.raises(errors.Conflict):
            await services.jobs.cancel(tenant, job_id)

    async def test_manual_retry_of_dead_letter(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, max_retries=0)
        lease = (await claim_one(services, tenant))["lease_id"]
        await services.leases.fail(tenant, job_id, "w1", lease, "boom")
        row = await services.jobs.retry(tenant, job_id)
        assert (row["status"], row["retry_count"], row["last_error"]) == ("pending", 0, None)
        assert (
            await sql(pool, "SELECT 1 FROM core.dead_letter_queue WHERE job_id = $1", job_id) == []
        )
        with pytest.raises(errors.Conflict):
            await services.jobs.retry(tenant, job_id)
        assert (await claim_one(services, tenant))["id"] == job_id

    async def test_boost_priority(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant, priority=1)
        row = await services.jobs.boost(tenant, job_id, 50)
        assert (row["old_priority"], row["new_priority"]) == (1, 50)
        await claim_one(services, tenant)
        with pytest.raises(errors.NotFound):
            await services.jobs.boost(tenant, job_id, 60)
        with pytest.raises(errors.ValidationError):
            await services.jobs.boost(tenant, job_id, 101)

    async def test_history_records_the_lifecycle(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        await services.jobs.cancel(tenant, job_id)
        rows, more = await services.jobs.history(tenant, job_id, order_dir="desc")
        assert [r["event_type"] for r in rows] == ["cancelled", "created"] and not more
        rows, more = await services.jobs.history(tenant, job_id, limit=1)
        assert [r["event_type"] for r in rows] == ["created"] and more
        with pytest.raises(errors.NotFound):
            await services.jobs.history(Tenant(tenant.org_id, frozenset({"x"})), job_id)


class TestConcurrentCreates:
    async def test_same_key_at_once_creates_exactly_one_job(
        self, services: Services, tenant: Tenant
    ) -> None:
        results = await asyncio.gather(
            *[services.jobs.create(tenant, NewJob("q", idempotency_key="race")) for _ in range(8)]
        )
        assert sum(r.created for r in results) == 1
        assert len({r.job_id for r in results}) == 1

    async def test_overlapping_bulk_batches_do_not_deadlock(
        self, services: Services, tenant: Tenant
    ) -> None:
        keys = [f"k{i}" for i in range(20)]
        batches = [
            [NewJob("q", idempotency_key=k) for k in order]
            for order in (keys, keys[::-1], keys[5:] + keys[:5])
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*[services.jobs.create_many(tenant, b) for b in batches]), 20
        )
        assert sum(r.created for batch in results for r in batch) == 20
        ids = {r.job_id for batch in results for r in batch}
        assert len(ids) == 20
