"""Complete / fail / heartbeat: lease fencing, backoff and dead-lettering."""

from __future__ import annotations

import asyncpg
import pytest
from spooled_common import errors, timefmt
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.leases import fencing
from spooled_queue_core.testing import claim_one, enqueue, expire_lease, job_row, sql


class TestComplete:
    async def test_completes_with_result(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        settled = await services.leases.complete(tenant, job_id, "w1", lease, '{"ok": true}')
        assert settled.status == "completed"
        row = await job_row(pool, job_id)
        assert row["status"] == "completed" and row["result"] == {"ok": True}
        assert row["completed_at"] is not None

    async def test_stale_lease_is_lease_expired(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await expire_lease(pool, job_id)
        with pytest.raises(errors.LeaseExpired) as exc:
            await services.leases.complete(tenant, job_id, "w1", lease, None)
        assert exc.value.message == fencing.EXPIRED["complete"]
        assert exc.value.code == "LEASE_EXPIRED" and exc.value.status == 409

    async def test_wrong_lease_is_lease_expired(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        await claim_one(services, tenant)
        with pytest.raises(errors.LeaseExpired) as exc:
            await services.leases.complete(tenant, job_id, "w1", "not-the-lease", None)
        assert exc.value.message == fencing.MISMATCH

    async def test_other_worker_is_lease_expired(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant, worker="w1"))["lease_id"]
        with pytest.raises(errors.LeaseExpired):
            await services.leases.complete(tenant, job_id, "w2", lease, None)

    async def test_requeued_job_is_lease_expired(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await sql(
            pool,
            "UPDATE core.jobs SET status = 'pending', lease_id = NULL, "
            "lease_expires_at = NULL WHERE id = $1",
            job_id,
        )
        with pytest.raises(errors.LeaseExpired):
            await services.leases.complete(tenant, job_id, "w1", lease, None)

    async def test_completed_twice_is_conflict(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await services.leases.complete(tenant, job_id, "w1", lease, None)
        with pytest.raises(errors.Conflict) as exc:
            await services.leases.complete(tenant, job_id, "w1", lease, None)
        assert type(exc.value) is errors.Conflict
        assert exc.value.message == "Job is already completed"

    async def test_unknown_job_is_not_found(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.NotFound):
            await services.leases.complete(tenant, "nope", "w1", "lease", None)

    async def test_lease_id_is_required(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.ValidationError, match="lease_id is required"):
            await services.leases.complete(tenant, "job", "w1", "", None)

    async def test_completion_is_recorded_in_outbox_and_history(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await services.leases.complete(tenant, job_id, "w1", lease, '{"n": 2}')
        events = await sql(
            pool,
            "SELECT event_type, payload FROM core.outbox WHERE aggregate = $1 ORDER BY id",
            job_id,
        )
        assert [e["event_type"] for e in events] == ["job.created", "job.started", "job.completed"]
        assert events[-1]["payload"]["result"] == {"n": 2}
        rows, _ = await services.jobs.history(tenant, job_id)
        assert [r["event_type"] for r in rows] == ["created", "processing", "completed"]


class TestFail:
    async def test_backoff_schedule(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, max_retries=10)
        delays = []
        for attempt in range(8):
            await sql(pool, "UPDATE core.jobs SET scheduled_at = NULL WHERE id = $1", job_id)
            lease = (await claim_one(services, tenant))["lease_id"]
            before = timefmt.now()
            settled = await services.leases.fail(tenant, job_id, "w1", lease, f"boom {attempt}")
            assert settled.status == "pending" and settled.will_retry
            row = await job_row(pool, job_id)
            assert row["retry_count"] == attempt + 1 and row["last_error"] == f"boom {attempt}"
            assert row["lease_id"] is None and row["assigned_worker_id"] is None
            wait = (row["scheduled_at"] - before).total_seconds()
            assert settled.next_retry_delay_secs <= wait < settled.next_retry_delay_secs + 0.6
            delays.append(settled.next_retry_delay_secs)
        assert delays == [1, 2, 4, 8, 16, 32, 60, 60]

    async def test_retry_is_not_claimable_before_backoff(
        self, services: Services, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await services.leases.fail(tenant, job_id, "w1", lease, "boom")
        assert await services.leases.claim(tenant, "q", "w") == []

    async def test_exhausted_retries_dead_letter(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, max_retries=1, payload='{"p": 1}')
        lease = (await claim_one(services, tenant))["lease_id"]
        assert (await services.leases.fail(tenant, job_id, "w1", lease, "one")).will_retry
        await sql(pool, "UPDATE core.jobs SET scheduled_at = NULL WHERE id = $1", job_id)
        lease = (await claim_one(services, tenant))["lease_id"]
        settled = await services.leases.fail(tenant, job_id, "w1", lease, "two")
        assert settled.status == "deadletter" and not settled.will_retry
        [dlq] = await sql(pool, "SELECT * FROM core.dead_letter_queue WHERE job_id = $1", job_id)
        assert dlq["reason"] == "two" and dlq["original_payload"] == {"p": 1}
        assert dlq["error_details"] == {"final_error": "two", "total_retries": 1}
        events = await sql(
            pool,
            "SELECT event_type FROM core.outbox WHERE aggregate = $1 AND event_type = 'job.failed'",
            job_id,
        )
        assert len(events) == 1

    async def test_retry_false_dead_letters_at_once(
        self, services: Services, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, max_retries=5)
        lease = (await claim_one(services, tenant))["lease_id"]
        settled = await services.leases.fail(tenant, job_id, "w1", lease, "fatal", retry=False)
        assert settled.status == "deadletter"

    async def test_zero_max_retries_dead_letters_first_failure(
        self, services: Services, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant, max_retries=0)
        lease = (await claim_one(services, tenant))["lease_id"]
        assert (await services.leases.fail(tenant, job_id, "w1", lease, "x")).status == "deadletter"

    async def test_stale_lease_is_lease_expired(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await expire_lease(pool, job_id)
        with pytest.raises(errors.LeaseExpired, match="before failure was reported"):
            await services.leases.fail(tenant, job_id, "w1", lease, "late")


class TestHeartbeat:
    async def test_extends_the_lease(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        row = await claim_one(services, tenant, lease_secs=10)
        settled = await services.leases.heartbeat(tenant, job_id, "w1", row["lease_id"], 600)
        assert settled.lease_expires_at is not None
        assert (settled.lease_expires_at - timefmt.now()).total_seconds() > 590

    async def test_expired_lease_cannot_be_extended(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant))["lease_id"]
        await expire_lease(pool, job_id)
        with pytest.raises(errors.LeaseExpired, match="cannot be extended"):
            await services.leases.heartbeat(tenant, job_id, "w1", lease, 60)

    async def test_wrong_lease_cannot_extend(self, services: Services, tenant: Tenant) -> None:
        job_id = await enqueue(services, tenant)
        await claim_one(services, tenant)
        with pytest.raises(errors.LeaseExpired):
            await services.leases.heartbeat(tenant, job_id, "w1", "other", 60)
