"""DiagnoseJob: the right blocker for each reason a job is not running (real Postgres).

Each test builds the situation the way production gets there (enqueue, claim,
fail, pause, register) and only ages timestamps by SQL where waiting for real
time would be needed (an expired lease, a silent worker).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.diagnose.models import Diagnosis, PlanCaps
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.testing import claim_one, enqueue, expire_lease, job_row, sql
from spooled_queue_core.workers.models import NewWorker


async def diagnose(
    services: Services, tenant: Tenant, job_id: str, plan: PlanCaps | None = None
) -> Diagnosis:
    return await services.diagnose.diagnose(tenant, job_id, plan)


async def has_dependency_table(pool: asyncpg.Pool) -> bool:
    [row] = await sql(pool, "SELECT to_regclass('core.job_dependencies') IS NOT NULL AS ok")
    return bool(row["ok"])


def codes(d: Diagnosis) -> list[str]:
    return [b.code for b in d.blockers]


async def live_worker(services: Services, tenant: Tenant, queue: str = "q", **kw: object) -> str:
    row = await services.workers.register(tenant, NewWorker(queue, "host-a", **kw))  # type: ignore[arg-type]
    return str(row["id"])


async def age_worker(pool: asyncpg.Pool, worker_id: str, seconds: int) -> None:
    await sql(
        pool,
        "UPDATE core.workers SET last_heartbeat = now() - make_interval(secs => $2) WHERE id = $1",
        worker_id,
        seconds,
    )


class TestReady:
    async def test_next_in_line_with_a_live_worker(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["READY"] and d.runnable
        assert d.blockers[0].details["position"] == 1
        assert d.blockers[0].details["live_workers"] == 1
        assert "next in line" in d.blockers[0].message

    async def test_position_follows_the_claim_order(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant)
        await enqueue(services, tenant, priority=5)
        await enqueue(services, tenant)
        mine = await enqueue(services, tenant)
        await enqueue(services, tenant)  # behind it: not counted
        await enqueue(services, tenant, priority=-5)
        d = await diagnose(services, tenant, mine)
        assert d.blockers[0].details == {
            "position": 3,
            "ahead": 2,
            "live_workers": 1,
            "slots": 5,
            "busy_slots": 0,
        }

    async def test_a_recent_rest_claim_counts_as_a_worker(
        self, services: Services, tenant: Tenant
    ) -> None:
        await enqueue(services, tenant)
        await claim_one(services, tenant, worker="unregistered")
        job = await enqueue(services, tenant)
        assert codes(await diagnose(services, tenant, job)) == ["READY"]


class TestQueuePaused:
    async def test_paused_queue_with_reason(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant)
        await services.queues.pause(tenant, "q", "deploy freeze")
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["QUEUE_PAUSED"] and not d.runnable
        blocker = d.blockers[0]
        assert blocker.details["reason"] == "deploy freeze"
        assert blocker.details["paused_at"] is not None
        assert "resume" in blocker.message

    async def test_resumed_queue_is_ready_again(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant)
        await services.queues.pause(tenant, "q")
        await services.queues.resume(tenant, "q")
        assert codes(await diagnose(services, tenant, job)) == ["READY"]


class TestScheduled:
    async def test_scheduled_for_later(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant)
        at = datetime.now(UTC) + timedelta(hours=2)
        job = await enqueue(services, tenant, scheduled_at=at)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["SCHEDULED"]
        assert 7100 < d.blockers[0].details["seconds_until"] <= 7200
        assert d.blockers[0].details["scheduled_at"].startswith(at.strftime("%Y-%m-%dT%H:%M"))

    async def test_retry_backoff_after_a_failure(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant, max_retries=3)
        row = await claim_one(services, tenant)
        await services.leases.fail(tenant, job, "w1", row["lease_id"], "smtp down")
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["RETRY_BACKOFF"]
        assert d.blockers[0].details["retry_count"] == 1
        assert d.blockers[0].details["last_error"] == "smtp down"

    async def test_paused_and_scheduled_lists_both_pause_first(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant, scheduled_at=datetime.now(UTC) + timedelta(hours=1))
        await services.queues.pause(tenant, "q")
        assert codes(await diagnose(services, tenant, job)) == ["QUEUE_PAUSED", "SCHEDULED"]


class TestDependencies:
    async def test_waiting_on_parent(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant)
        parent = await enqueue(
            services, tenant, scheduled_at=datetime.now(UTC) + timedelta(hours=1)
        )
        child = await enqueue(services, tenant, parent_job_id=parent)
        d = await diagnose(services, tenant, child)
        assert codes(d) == ["WAITING_ON_DEPENDENCY"]
        [dep] = d.blockers[0].details["dependencies"]
        assert dep == {
            "job_id": parent,
            "queue_name": "q",
            "status": "scheduled",
            "via": "parent_job_id",
        }
        assert parent in d.blockers[0].message

    async def test_parent_dead_lettered(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await live_worker(services, tenant)
        parent = await enqueue(services, tenant, max_retries=0)
        child = await enqueue(services, tenant, parent_job_id=parent)
        row = await claim_one(services, tenant)
        await services.leases.fail(tenant, parent, "w1", row["lease_id"], "boom")
        d = await diagnose(services, tenant, child)
        if (await job_row(pool, child))["status"] == "cancelled":
            # Where parent edges are job_dependencies rows (workflows), migration
            # 0002 cancels dependents that can never run, with the reason.
            assert codes(d) == ["CANCELLED"]
            assert "Parent job" in d.blockers[0].details["reason"]
            assert "Parent job" in d.blockers[0].message
        else:
            assert codes(d)[0] == "DEPENDENCY_FAILED"
            assert d.blockers[0].details["dependencies"][0]["status"] == "deadletter"

    async def test_waiting_on_job_dependencies_edges(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        if not await has_dependency_table(pool):
            pytest.skip("core.job_dependencies is not migrated")
        await live_worker(services, tenant)
        later = datetime.now(UTC) + timedelta(hours=1)
        first = await enqueue(services, tenant, "extract", scheduled_at=later)
        second = await enqueue(services, tenant, "extract", scheduled_at=later)
        child = await enqueue(services, tenant, "load")
        # What a workflow's creation writes: one edge per dependency, child blocked.
        await sql(
            pool,
            "INSERT INTO core.job_dependencies (organization_id, job_id, depends_on_job_id) "
            "SELECT $1, $2, unnest($3::text[])",
            tenant.org_id,
            child,
            [first, second],
        )
        await sql(pool, "UPDATE core.jobs SET dependencies_met = FALSE WHERE id = $1", child)
        d = await diagnose(services, tenant, child)
        assert codes(d) == ["WAITING_ON_DEPENDENCY", "NO_WORKER"]
        deps = d.blockers[0].details["dependencies"]
        assert [(x["job_id"], x["via"]) for x in deps] == [
            (first, "job_dependencies"),
            (second, "job_dependencies"),
        ]
        assert "and 1 more" in d.blockers[0].message

    async def test_parent_completed_releases_the_child(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant)
        parent = await enqueue(services, tenant)
        child = await enqueue(services, tenant, parent_job_id=parent)
        row = await claim_one(services, tenant)
        await services.leases.complete(tenant, parent, "w1", row["lease_id"], None)
        assert codes(await diagnose(services, tenant, child)) == ["READY"]


class TestLease:
    async def test_held_by_a_live_worker_until(self, services: Services, tenant: Tenant) -> None:
        worker = await live_worker(services, tenant)
        job = await enqueue(services, tenant)
        row = await claim_one(services, tenant, worker=worker, lease_secs=120)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["LEASED"]
        details = d.blockers[0].details
        assert details["worker_id"] == worker and details["worker_hostname"] == "host-a"
        assert details["lease_expires_at"].startswith(
            row["lease_expires_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        )
        assert worker in d.blockers[0].message

    async def test_expired_lease_awaits_the_reaper(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        worker = await live_worker(services, tenant)
        job = await enqueue(services, tenant, max_retries=2)
        await claim_one(services, tenant, worker=worker)
        await expire_lease(pool, job)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["LEASE_EXPIRED"]
        assert "will be retried" in d.blockers[0].message
        assert d.blockers[0].details["rescue_by"] is not None

    async def test_holder_went_silent(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        worker = await live_worker(services, tenant)
        job = await enqueue(services, tenant, max_retries=0)
        await claim_one(services, tenant, worker=worker, lease_secs=600)
        await age_worker(pool, worker, 90)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["LEASE_HOLDER_LOST"]
        assert "dead-lettered" in d.blockers[0].message


class TestExpired:
    async def test_expires_at_passed(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await live_worker(services, tenant)
        job = await enqueue(services, tenant, expires_at=datetime.now(UTC) + timedelta(hours=1))
        await sql(
            pool,
            "UPDATE core.jobs SET expires_at = now() - interval '5 minutes' WHERE id = $1",
            job,
        )
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["EXPIRED"]
        assert d.blockers[0].details["expires_at"] is not None


class TestWorkers:
    async def test_no_worker_ever(self, services: Services, tenant: Tenant) -> None:
        job = await enqueue(services, tenant, "lonely")
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["NO_WORKER"]
        assert d.blockers[0].details["last_seen_at"] is None
        assert "ever polled queue 'lonely'" in d.blockers[0].message

    async def test_no_worker_seen_for_n_seconds(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        worker = await live_worker(services, tenant, "q")
        await age_worker(pool, worker, 600)
        job = await enqueue(services, tenant)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["NO_WORKER"]
        assert 595 <= d.blockers[0].details["seconds_since_seen"] <= 620
        assert "for 10 min" in d.blockers[0].message

    async def test_worker_of_another_queue_does_not_count(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant, "other")
        job = await enqueue(services, tenant, "q")
        assert codes(await diagnose(services, tenant, job)) == ["NO_WORKER"]

    async def test_plan_worker_cap_reached(self, services: Services, tenant: Tenant) -> None:
        await live_worker(services, tenant, "other")
        job = await enqueue(services, tenant, "q")
        plan = PlanCaps(tier="free", max_workers=1, upgrade_to="starter")
        d = await diagnose(services, tenant, job, plan)
        assert codes(d) == ["PLAN_LIMIT", "NO_WORKER"]
        assert d.blockers[0].details == {
            "resource": "workers",
            "current": 1,
            "limit": 1,
            "plan": "free",
            "upgrade_to": "starter",
        }

    async def test_plan_cap_not_reached_is_not_a_blocker(
        self, services: Services, tenant: Tenant
    ) -> None:
        await live_worker(services, tenant, "other")
        job = await enqueue(services, tenant, "q")
        plan = PlanCaps(tier="starter", max_workers=5, upgrade_to="pro")
        assert codes(await diagnose(services, tenant, job, plan)) == ["NO_WORKER"]


class TestTerminal:
    async def test_completed(self, services: Services, tenant: Tenant) -> None:
        job = await enqueue(services, tenant)
        row = await claim_one(services, tenant, worker="w9")
        await services.leases.complete(tenant, job, "w9", row["lease_id"], '{"ok": true}')
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["COMPLETED"] and not d.runnable
        assert d.blockers[0].details["worker_id"] == "w9"
        assert d.blockers[0].details["duration_ms"] >= 0

    async def test_dead_lettered_with_reason(self, services: Services, tenant: Tenant) -> None:
        job = await enqueue(services, tenant, max_retries=0)
        row = await claim_one(services, tenant)
        await services.leases.fail(tenant, job, "w1", row["lease_id"], "card declined")
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["DEAD_LETTERED"]
        assert d.blockers[0].details["reason"] == "card declined"
        assert "/retry" in d.blockers[0].message

    async def test_cancelled(self, services: Services, tenant: Tenant) -> None:
        job = await enqueue(services, tenant)
        await services.jobs.cancel(tenant, job)
        d = await diagnose(services, tenant, job)
        assert codes(d) == ["CANCELLED"]
        assert d.blockers[0].details["cancelled_at"] is not None


class TestLookup:
    async def test_unknown_job_is_not_found(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.NotFound):
            await diagnose(services, tenant, "no-such-job")

    async def test_other_org_and_other_scope_are_not_found(
        self, services: Services, tenant: Tenant
    ) -> None:
        job = await enqueue(services, tenant, "secret")
        with pytest.raises(errors.NotFound):
            await diagnose(services, Tenant("someone-else"), job)
        with pytest.raises(errors.NotFound):
            await diagnose(services, Tenant(tenant.org_id, frozenset({"public"})), job)


async def test_plan_cap_held_by_a_silent_worker_of_this_queue_is_not_a_plan_problem(
    services: Services, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    worker = await live_worker(services, tenant, "q")
    await age_worker(pool, worker, 90)
    job = await enqueue(services, tenant, "q")
    plan = PlanCaps(tier="free", max_workers=1, upgrade_to="starter")
    assert codes(await diagnose(services, tenant, job, plan)) == ["NO_WORKER"]
