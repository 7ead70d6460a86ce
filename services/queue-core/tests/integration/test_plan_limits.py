"""Plan limits at every way a job enters queue-core, against a real billing service.

The org's limits come from billing (custom_limits set per test); the daily
counter is billing's; the caps are checked in queue-core's insert transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
from spooled_billing.app import BillingApp
from spooled_billing.testing import running_billing
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import billing_pb2 as bpb
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc
from spooled_queue_core.app import build_services
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob
from spooled_queue_core.queues.models import QueueUpdate
from spooled_queue_core.quota.admission import Admission
from spooled_queue_core.quota.fairness import FairPool, serving
from spooled_queue_core.quota.limits import BillingLimits
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.testing import claim_one, sql
from spooled_queue_core.wakeup import Wakeup
from spooled_queue_core.workers.models import NewWorker
from spooled_queue_core.workflows.models import NewWorkflow, WorkflowJob
from spooled_testing.postgres import PostgresServer


@pytest.fixture(scope="module")
async def billing(pg_server: PostgresServer) -> AsyncIterator[BillingApp]:
    dsn = pg_server.create_database(f"qcb_{uuid.uuid4().hex[:8]}")
    async with running_billing(dsn) as app:
        yield app


@pytest.fixture(scope="module")
async def metered(
    pool: asyncpg.Pool, settings: QueueCoreSettings, wakeup: Wakeup, billing: BillingApp
) -> AsyncIterator[Services]:
    source = BillingLimits(f"127.0.0.1:{billing.grpc_port}", settings.internal_token, cache_secs=0)
    yield build_services(pool, settings, wakeup, Admission(source))
    await source.close()


class Billing:
    def __init__(self, app: BillingApp) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        self._stub = billing_pb2_grpc.BillingStub(self._channel)
        self._token = app.settings.internal_token

    def _md(self, org: str) -> Any:
        return rpc.call_metadata(self._token, Tenant(org))

    async def limit(self, org: str, tier: str = "free", **custom: Any) -> None:
        await self._stub.SetOrgPlan(
            bpb.SetOrgPlanRequest(
                plan_tier=tier, set_custom_limits=True, custom_limits=orjson.dumps(custom)
            ),
            metadata=self._md(org),
        )

    async def jobs_today(self, org: str) -> int:
        got = await self._stub.GetDailyUsage(bpb.DailyUsageRequest(), metadata=self._md(org))
        return int(got.jobs_today)


@pytest.fixture(scope="module")
async def plans(billing: BillingApp) -> AsyncIterator[Billing]:
    b = Billing(billing)
    yield b
    await b._channel.close()


async def count(pool: asyncpg.Pool, org: str, where: str = "") -> int:
    rows = await sql(
        pool, f"SELECT count(*) AS n FROM core.jobs WHERE organization_id = $1 {where}", org
    )
    return int(rows[0]["n"])


def jobs(n: int, queue: str = "q", **fields: Any) -> list[NewJob]:
    return [NewJob(queue, **fields) for _ in range(n)]


class TestCreate:
    async def test_active_jobs_cap_refuses_and_refunds(
        self, metered: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=3, max_jobs_per_day=100)
        await metered.jobs.create_many(tenant, jobs(2))
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.jobs.create_many(tenant, jobs(2))
        assert info.value.extra == {
            "error": "limit_exceeded",
            "resource": "active_jobs",
            "current": 2,
            "limit": 3,
            "plan": "free",
            "upgrade_to": "starter",
        }
        assert "limit reached (2/3)" in info.value.message
        assert await count(pool, tenant.org_id) == 2
        assert await plans.jobs_today(tenant.org_id) == 2  # the refused 2 were refunded
        await metered.jobs.create(tenant, NewJob("q"))  # exactly at the cap is fine

    async def test_workflows_are_admitted_like_bulk_creates(
        self, metered: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=4, max_active_jobs=None)
        diamond = NewWorkflow(
            "diamond",
            (
                WorkflowJob("a", "q"),
                WorkflowJob("b", "q", depends_on=("a",)),
                WorkflowJob("c", "q", depends_on=("a",)),
            ),
        )
        await metered.workflows.create(tenant, diamond)
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.workflows.create(tenant, diamond)
        assert info.value.extra["resource"] == "jobs_per_day"
        # Nothing of the refused workflow was stored, and its reservation was refunded.
        assert await count(pool, tenant.org_id) == 3
        assert await plans.jobs_today(tenant.org_id) == 3

    async def test_finished_jobs_free_the_active_slot(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=1)
        await metered.jobs.create(tenant, NewJob("q"))
        job = await claim_one(metered, tenant)
        with pytest.raises(errors.QuotaExceeded):
            await metered.jobs.create(tenant, NewJob("q"))
        await metered.leases.complete(tenant, job["id"], "w1", job["lease_id"], None)
        await metered.jobs.create(tenant, NewJob("q"))

    async def test_daily_cap_refuses_the_whole_batch(
        self, metered: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=5, max_active_jobs=None)
        await metered.jobs.create_many(tenant, jobs(3))
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.jobs.create_many(tenant, jobs(3))
        assert info.value.extra["resource"] == "jobs_per_day"
        assert await count(pool, tenant.org_id) == 3
        await metered.jobs.create_many(tenant, jobs(2))
        assert await plans.jobs_today(tenant.org_id) == 5

    async def test_payload_over_the_plan_is_413_and_counts_nothing(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_payload_size_bytes=100)
        big = orjson.dumps({"x": "y" * 200}).decode()
        with pytest.raises(errors.PayloadTooLarge) as info:
            await metered.jobs.create(tenant, NewJob("q", payload=big))
        assert info.value.status == 413 and info.value.extra["limit"] == 100
        assert await plans.jobs_today(tenant.org_id) == 0

    async def test_failed_insert_refunds_everything(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=10)
        with pytest.raises(errors.AppError):
            # Not JSON: the INSERT's ::jsonb cast fails and the transaction rolls back.
            await metered.jobs.create(tenant, NewJob("q", payload="{not json"))
        assert await plans.jobs_today(tenant.org_id) == 0

    async def test_rejected_items_and_duplicates_are_refunded(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=10)
        batch = [
            NewJob("q", idempotency_key="k1"),
            NewJob("q", idempotency_key="k1"),  # collapses onto the first
            NewJob("q", parent_job_id=str(uuid.uuid4())),  # unknown parent: rejected
            NewJob("q", priority=500),  # invalid: never reserved
            NewJob("q"),
        ]
        out = await metered.jobs.create_many(tenant, batch)
        assert [r.created for r in out] == [True, False, False, False, True]
        assert await plans.jobs_today(tenant.org_id) == 2

    async def test_idempotent_replay_at_the_limit_answers_without_counting(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=1, max_active_jobs=1)
        first = await metered.jobs.create(tenant, NewJob("q", idempotency_key="once"))
        again = await metered.jobs.create(tenant, NewJob("q", idempotency_key="once"))
        assert (again.job_id, again.created) == (first.job_id, False)
        assert await plans.jobs_today(tenant.org_id) == 1

    async def test_parallel_creates_never_pass_the_active_cap(
        self, metered: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=5)

        async def one() -> bool:
            try:
                await metered.jobs.create(tenant, NewJob("q"))
                return True
            except errors.QuotaExceeded:
                return False

        outcomes = await asyncio.gather(*(one() for _ in range(20)))
        assert outcomes.count(True) == 5
        assert await count(pool, tenant.org_id) == 5
        assert await plans.jobs_today(tenant.org_id) == 5

    async def test_new_queues_count_against_the_cap(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_queues=2)
        await metered.jobs.create(tenant, NewJob("a"))
        await metered.jobs.create(tenant, NewJob("b"))
        await metered.jobs.create(tenant, NewJob("a"))  # known queue
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.jobs.create(tenant, NewJob("c"))
        assert (info.value.extra["resource"], info.value.extra["current"]) == ("queues", 2)
        # Configuring a brand-new queue creates one too.
        with pytest.raises(errors.QuotaExceeded):
            await metered.queues.update_config(tenant, "d", QueueUpdate(max_retries=1))
        await metered.queues.update_config(tenant, "a", QueueUpdate(max_retries=1))


class TestReactivation:
    async def _dead(self, services: Services, tenant: Tenant) -> str:
        created = await services.jobs.create(tenant, NewJob("q", max_retries=0))
        job = await claim_one(services, tenant)
        await services.leases.fail(tenant, job["id"], "w1", job["lease_id"], "boom")
        return created.job_id

    async def test_dlq_retry_is_admitted_like_new_jobs(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_jobs_per_day=3, max_active_jobs=None)
        dead = [await self._dead(metered, tenant) for _ in range(2)]
        assert await plans.jobs_today(tenant.org_id) == 2
        with pytest.raises(errors.QuotaExceeded):
            await metered.dlq.retry(tenant)  # 2 more would make 4 > 3
        await plans.limit(tenant.org_id, max_jobs_per_day=4, max_active_jobs=None)
        out = await metered.dlq.retry(tenant)
        assert sorted(out.retried) == sorted(dead)
        assert await plans.jobs_today(tenant.org_id) == 4

    async def test_dlq_retry_respects_the_active_cap(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=2)
        dead = await self._dead(metered, tenant)
        await metered.jobs.create_many(tenant, jobs(2))
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.dlq.retry(tenant, job_ids=[dead])
        assert info.value.extra["resource"] == "active_jobs"

    async def test_operator_retry_counts_and_respects_caps(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=1)
        dead = await self._dead(metered, tenant)
        pending = await metered.jobs.create(tenant, NewJob("q"))
        with pytest.raises(errors.QuotaExceeded):
            await metered.jobs.retry(tenant, dead)
        with pytest.raises(errors.Conflict):  # not retryable: 409, whatever the quota
            await metered.jobs.retry(tenant, pending.job_id)
        await metered.jobs.cancel(tenant, pending.job_id)
        before = await plans.jobs_today(tenant.org_id)
        await metered.jobs.retry(tenant, dead)
        assert await plans.jobs_today(tenant.org_id) == before + 1


class TestWorkers:
    async def test_worker_cap_counts_live_workers_only(
        self, metered: Services, plans: Billing, tenant: Tenant
    ) -> None:
        await plans.limit(tenant.org_id, max_workers=1)
        w = NewWorker(queue_name="q", hostname="h", worker_id="w-a")
        await metered.workers.register(tenant, w)
        await metered.workers.register(tenant, w)  # re-registration is not a new worker
        with pytest.raises(errors.QuotaExceeded) as info:
            await metered.workers.register(
                tenant, NewWorker(queue_name="q", hostname="h", worker_id="w-b")
            )
        assert info.value.extra["resource"] == "workers"
        await metered.workers.deregister(tenant, "w-a")
        await metered.workers.register(
            tenant, NewWorker(queue_name="q", hostname="h", worker_id="w-b")
        )


class TestFairness:
    async def test_a_flooding_org_cannot_hold_every_connection(
        self, core_dsn: str, pool: asyncpg.Pool
    ) -> None:
        small = await asyncpg.create_pool(core_dsn, min_size=4, max_size=4)
        assert small is not None
        fair = FairPool(small, per_org=2)
        try:

            async def hog() -> None:
                with serving("org-flood"):
                    async with fair.acquire() as conn:
                        await conn.execute("SELECT pg_sleep(0.5)")

            flood = [asyncio.create_task(hog()) for _ in range(20)]
            await asyncio.sleep(0.1)
            assert fair.in_use("org-flood") == 2
            loop = asyncio.get_running_loop()
            start = loop.time()
            with serving("org-quiet"):
                async with fair.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            # Served from the two connections the flood may not take, not after it.
            assert loop.time() - start < 0.3
            await asyncio.gather(*flood)
        finally:
            await small.close()


@pytest.fixture(scope="module")
async def cached(
    pool: asyncpg.Pool, settings: QueueCoreSettings, wakeup: Wakeup, billing: BillingApp
) -> AsyncIterator[Services]:
    """Metered like production: limits cached, so enqueues check caps while reserving."""
    source = BillingLimits(f"127.0.0.1:{billing.grpc_port}", settings.internal_token, cache_secs=60)
    yield build_services(pool, settings, wakeup, Admission(source))
    await source.close()


class TestFastAdmission:
    """Reservations of one org travel together; caps are checked while the reservation is on its way."""

    async def test_concurrent_creates_admit_exactly_the_daily_limit(
        self, cached: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, "enterprise", max_jobs_per_day=25)
        outcomes = await asyncio.gather(
            *(cached.jobs.create(tenant, NewJob("q")) for _ in range(40)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, errors.QuotaExceeded)]
        assert len(refused) == 15 and len(outcomes) - len(refused) == 25
        assert await count(pool, tenant.org_id) == 25
        assert await plans.jobs_today(tenant.org_id) == 25

    async def test_concurrent_batches_that_do_not_fit_together_are_admitted_one_by_one(
        self, cached: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, "enterprise", max_jobs_per_day=10)
        outcomes = await asyncio.gather(
            *(cached.jobs.create_many(tenant, jobs(4)) for _ in range(4)), return_exceptions=True
        )
        admitted = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(admitted) == 2  # 4 + 4 fit under 10, a third batch would not
        assert await count(pool, tenant.org_id) == 8
        assert await plans.jobs_today(tenant.org_id) == 8

    async def test_a_plan_change_after_caching_is_enforced_before_commit(
        self, cached: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, max_active_jobs=5, max_jobs_per_day=100)
        await cached.jobs.create_many(tenant, jobs(2))  # limits now cached: 5 active
        await plans.limit(tenant.org_id, max_active_jobs=2, max_jobs_per_day=100)
        with pytest.raises(errors.QuotaExceeded) as info:
            await cached.jobs.create(tenant, NewJob("q"))
        assert info.value.extra["resource"] == "active_jobs"
        assert info.value.extra["limit"] == 2
        assert await count(pool, tenant.org_id) == 2
        assert await plans.jobs_today(tenant.org_id) == 2  # refunded

    async def test_a_refused_reservation_rolls_the_insert_back(
        self, cached: Services, plans: Billing, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await plans.limit(tenant.org_id, "enterprise", max_jobs_per_day=3)
        await cached.jobs.create_many(tenant, jobs(3))
        with pytest.raises(errors.QuotaExceeded):
            await cached.jobs.create(tenant, NewJob("q"))
        assert await count(pool, tenant.org_id) == 3
        assert await plans.jobs_today(tenant.org_id) == 3
