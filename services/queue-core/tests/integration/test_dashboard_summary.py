"""GetDashboard's summary: counts, latency, busiest queues, workers, throughput."""

from __future__ import annotations

from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.testing import claim_one, enqueue
from spooled_queue_core.workers.models import NewWorker


async def test_summary_of_a_small_org(services: Services, tenant: Tenant) -> None:
    await services.workers.register(tenant, NewWorker("emails", "h1"))
    for _ in range(3):
        await enqueue(services, tenant, "emails")
    await enqueue(services, tenant, "reports")
    done = await claim_one(services, tenant, "emails")
    await services.leases.complete(tenant, done["id"], "w1", done["lease_id"], None)
    dead = await enqueue(services, tenant, "reports", max_retries=0, priority=100)
    row = await claim_one(services, tenant, "reports")
    await services.leases.fail(tenant, dead, "w1", row["lease_id"], "boom")
    await services.queues.pause(tenant, "reports")

    s = await services.dashboard.summary(tenant, minutes=5)

    assert {k: s.jobs[k] for k in ("total", "pending", "processing", "deadletter")} == {
        "total": 5,
        "pending": 3,
        "processing": 0,
        "deadletter": 1,
    }
    assert (s.jobs["completed_24h"], s.jobs["failed_24h"]) == (1, 1)
    assert s.jobs["jobs_created_1h"] == 5 and s.jobs["avg_wait_time_ms"] >= 0
    assert [(q["name"], q["pending"], q["paused"]) for q in s.queues] == [
        ("emails", 2, False),
        ("reports", 1, True),
    ]
    assert s.workers == {"workers_total": 1, "workers_healthy": 1, "workers_unhealthy": 0}
    assert len(s.throughput) == 5
    assert sum(p["created"] for p in s.throughput) == 5
    assert sum(p["completed"] for p in s.throughput) == 1
    assert sum(p["failed"] for p in s.throughput) == 1


async def test_scope_limits_the_summary(services: Services, tenant: Tenant) -> None:
    await enqueue(services, tenant, "a")
    await enqueue(services, tenant, "b")
    s = await services.dashboard.summary(Tenant(tenant.org_id, frozenset({"a"})))
    assert s.jobs["total"] == 1 and [q["name"] for q in s.queues] == ["a"]
