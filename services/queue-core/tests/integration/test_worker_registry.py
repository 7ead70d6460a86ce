"""Workers: registration with stable ids, heartbeats, deregistration; usage counters."""

from __future__ import annotations

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.queues.models import QueueUpdate
from spooled_queue_core.testing import claim_one, enqueue, job_row
from spooled_queue_core.workers.models import NewWorker


class TestRegister:
    async def test_server_assigned_id_and_defaults(
        self, services: Services, tenant: Tenant
    ) -> None:
        row = await services.workers.register(tenant, NewWorker("q", "host-1"))
        assert row["id"] and row["status"] == "healthy" and row["max_concurrency"] == 5

    @pytest.mark.parametrize(("asked", "granted"), [(0, 5), (7, 7), (500, 100)])
    async def test_concurrency_is_clamped(
        self, services: Services, tenant: Tenant, asked: int, granted: int
    ) -> None:
        row = await services.workers.register(tenant, NewWorker("q", "h", max_concurrency=asked))
        assert row["max_concurrency"] == granted

    async def test_stable_id_re_registers(self, services: Services, tenant: Tenant) -> None:
        worker_id = f"stable-{tenant.org_id}"
        first = await services.workers.register(tenant, NewWorker("q", "h1", worker_id=worker_id))
        await services.workers.heartbeat(tenant, worker_id, status="draining")
        again = await services.workers.register(tenant, NewWorker("q", "h2", worker_id=worker_id))
        assert again["id"] == first["id"] == worker_id
        assert (again["hostname"], again["status"]) == ("h2", "healthy")

    async def test_id_owned_by_another_org_is_refused(
        self, services: Services, tenant: Tenant
    ) -> None:
        worker_id = f"taken-{tenant.org_id}"
        await services.workers.register(tenant, NewWorker("q", "h", worker_id=worker_id))
        with pytest.raises(errors.AlreadyExists, match="Worker ID already in use") as exc:
            await services.workers.register(
                Tenant("other-org"), NewWorker("q", "h", worker_id=worker_id)
            )
        assert exc.value.status == 409

    async def test_out_of_scope_queue_is_refused(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.AccessDenied):
            await services.workers.register(
                Tenant(tenant.org_id, frozenset({"a"})), NewWorker("b", "h")
            )


class TestHeartbeatAndDeregister:
    async def test_heartbeat_updates_and_signals_drain(
        self, services: Services, tenant: Tenant
    ) -> None:
        worker = await services.workers.register(tenant, NewWorker("q", "h"))
        assert (
            await services.workers.heartbeat(
                tenant, worker["id"], current_jobs=3, status="degraded", metadata='{"cpu": 0.5}'
            )
            is False
        )
        row = await services.workers.get(tenant, worker["id"])
        assert (row["current_jobs"], row["status"], row["metadata"]) == (
            3,
            "degraded",
            '{"cpu": 0.5}',
        )
        assert await services.workers.heartbeat(tenant, worker["id"], status="bogus") is False
        assert (await services.workers.get(tenant, worker["id"]))["status"] == "healthy"
        assert await services.workers.heartbeat(tenant, worker["id"], status="draining") is True
        with pytest.raises(errors.NotFound):
            await services.workers.heartbeat(tenant, "missing")

    async def test_deregister_requeues_without_charging_a_retry(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        worker = await services.workers.register(tenant, NewWorker("q", "h"))
        job_id = await enqueue(services, tenant)
        lease = (await claim_one(services, tenant, worker=worker["id"]))["lease_id"]
        assert await services.workers.deregister(tenant, worker["id"]) == 1
        row = await job_row(pool, job_id)
        assert (row["status"], row["retry_count"], row["lease_id"]) == ("pending", 0, None)
        assert (await services.workers.get(tenant, worker["id"]))["status"] == "offline"
        assert await services.workers.heartbeat(tenant, worker["id"]) is True
        with pytest.raises(errors.LeaseExpired):
            await services.leases.complete(tenant, job_id, worker["id"], lease, None)

    async def test_list_is_scoped(self, services: Services, tenant: Tenant) -> None:
        await services.workers.register(tenant, NewWorker("a", "h"))
        await services.workers.register(tenant, NewWorker("b", "h"))
        assert len(await services.workers.list_workers(tenant)) == 2
        scoped = Tenant(tenant.org_id, frozenset({"a"}))
        assert [w["queue_name"] for w in await services.workers.list_workers(scoped)] == ["a"]


class TestUsage:
    async def test_counts_the_whole_org(self, services: Services, tenant: Tenant) -> None:
        await enqueue(services, tenant, "a")
        await enqueue(services, tenant, "b")
        await claim_one(services, tenant, "b")
        # A configured queue with no jobs still counts.
        await services.queues.update_config(tenant, "c", QueueUpdate(max_retries=5))
        await services.workers.register(tenant, NewWorker("a", "h"))
        usage = dict(await services.usage.usage(Tenant(tenant.org_id, frozenset({"a"}))))
        assert usage == {
            "jobs_today": 2,
            "active_jobs": 2,
            "total_jobs": 2,
            "pending": 1,
            "processing": 1,
            "queues": 3,
            "workers": 1,
        }
