"""CompleteJobs: many fenced completions in one transaction, each with its own outcome."""

from __future__ import annotations

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.leases import fencing
from spooled_queue_core.leases.service import MAX_COMPLETE_BATCH, Completion, Settled
from spooled_queue_core.testing import enqueue, expire_lease, job_row, sql


async def claim_all(services: Services, tenant: Tenant, n: int) -> list[asyncpg.Record]:
    rows = await services.leases.claim(tenant, "q", "w1", limit=n)
    assert len(rows) == n
    return rows


async def test_completes_every_item_with_history_and_events(
    services: Services, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    ids = [await enqueue(services, tenant) for _ in range(5)]
    rows = await claim_all(services, tenant, 5)
    out = await services.leases.complete_many(
        tenant,
        [Completion(r["id"], "w1", r["lease_id"], f'{{"n": {i}}}') for i, r in enumerate(rows)],
    )
    assert out == [Settled("completed")] * 5
    for i, r in enumerate(rows):
        row = await job_row(pool, r["id"])
        assert row["status"] == "completed" and row["result"] == {"n": i}
    events = await sql(
        pool,
        "SELECT aggregate, payload FROM core.outbox WHERE organization_id = $1"
        " AND event_type = 'job.completed'",
        tenant.org_id,
    )
    assert sorted(e["aggregate"] for e in events) == sorted(ids)
    history = await sql(
        pool,
        "SELECT count(*) AS n FROM core.job_history WHERE organization_id = $1"
        " AND event_type = 'completed' AND worker_id = 'w1'",
        tenant.org_id,
    )
    assert history[0]["n"] == 5


async def test_each_item_fails_on_its_own(
    services: Services, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    for _ in range(4):
        await enqueue(services, tenant)
    good, expired, wrong_lease, other_worker = await claim_all(services, tenant, 4)
    await expire_lease(pool, expired["id"])
    out = await services.leases.complete_many(
        tenant,
        [
            Completion(good["id"], "w1", good["lease_id"]),
            Completion(expired["id"], "w1", expired["lease_id"]),
            Completion(wrong_lease["id"], "w1", "not-the-lease"),
            Completion(other_worker["id"], "w2", other_worker["lease_id"]),
            Completion("no-such-job", "w1", "lease"),
            Completion(good["id"], "w1", ""),
        ],
    )
    assert out[0] == Settled("completed")
    assert isinstance(out[1], errors.LeaseExpired) and out[1].message == fencing.EXPIRED["complete"]
    assert isinstance(out[2], errors.LeaseExpired) and out[2].message == fencing.MISMATCH
    assert isinstance(out[3], errors.LeaseExpired)
    assert isinstance(out[4], errors.NotFound)
    assert isinstance(out[5], errors.ValidationError)
    # The refused ones are untouched: still processing under their lease.
    for r in (expired, wrong_lease, other_worker):
        assert (await job_row(pool, r["id"]))["status"] == "processing"


async def test_a_repeated_job_is_completed_once(services: Services, tenant: Tenant) -> None:
    await enqueue(services, tenant)
    [row] = await claim_all(services, tenant, 1)
    item = Completion(row["id"], "w1", row["lease_id"])
    first, again = await services.leases.complete_many(tenant, [item, item])
    assert first == Settled("completed")
    assert type(again) is errors.Conflict and again.message == "Job is already completed"


async def test_scope_hides_other_queues(services: Services, tenant: Tenant) -> None:
    await enqueue(services, tenant)
    [row] = await claim_all(services, tenant, 1)
    narrow = Tenant(tenant.org_id, frozenset({"elsewhere"}))
    [out] = await services.leases.complete_many(
        narrow, [Completion(row["id"], "w1", row["lease_id"])]
    )
    assert isinstance(out, errors.NotFound)


async def test_other_tenants_jobs_are_not_found(services: Services, tenant: Tenant) -> None:
    await enqueue(services, tenant)
    [row] = await claim_all(services, tenant, 1)
    [out] = await services.leases.complete_many(
        Tenant("org-someone-else"), [Completion(row["id"], "w1", row["lease_id"])]
    )
    assert isinstance(out, errors.NotFound)


async def test_batch_size_is_capped(services: Services, tenant: Tenant) -> None:
    items = [Completion(f"j{i}", "w", "l") for i in range(MAX_COMPLETE_BATCH + 1)]
    with pytest.raises(errors.ValidationError):
        await services.leases.complete_many(tenant, items)
