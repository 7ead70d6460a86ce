"""One organization's backlog does not slow another's claims or enqueues.

Claims walk an index that starts with the organization (``jobs_claim_idx``:
organization, queue, priority, created_at; or ``jobs_active_org_idx`` for an
org with few active jobs), so the cost of a claim depends on the caller's own
jobs, not on how many jobs other organizations hold. The active-jobs count walks ``jobs_active_org_idx``
for the same reason. Guarded here at the SQL level with 50,000 jobs of a
noisy neighbour; tests/e2e/test_limits_fairness.py shows it through the API.
"""

from __future__ import annotations

import statistics
import time
import uuid

import asyncpg
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob
from spooled_queue_core.quota import QUERIES as QUOTA_Q
from spooled_queue_core.testing import sql

NOISY_JOBS = 50_000


async def _flood(pool: asyncpg.Pool, org: str, queue: str) -> None:
    await sql(
        pool,
        "INSERT INTO core.jobs (id, organization_id, queue_name, status, payload) "
        "SELECT gen_random_uuid()::text, $1, $2, 'pending', '{}'::jsonb "
        "FROM generate_series(1, $3)",
        org,
        queue,
        NOISY_JOBS,
    )
    await sql(pool, "ANALYZE core.jobs")


async def _plan(pool: asyncpg.Pool, org: str, query: str, *args: object) -> str:
    async with tenant_tx(pool, org) as conn:
        rows = await conn.fetch(f"EXPLAIN {query}", *args)
    return "\n".join(r[0] for r in rows)


async def test_claims_and_counts_stay_flat_next_to_a_noisy_neighbour(
    services: Services, pool: asyncpg.Pool
) -> None:
    noisy, quiet = Tenant(f"org-{uuid.uuid4()}"), Tenant(f"org-{uuid.uuid4()}")
    await _flood(pool, noisy.org_id, "shared-name")
    for _ in range(20):
        await services.jobs.create(quiet, NewJob("shared-name"))

    latencies = []
    for _ in range(20):
        start = time.perf_counter()
        [job] = await services.leases.claim(quiet, "shared-name", "w", limit=1)
        latencies.append(time.perf_counter() - start)
        assert job["organization_id"] == quiet.org_id
    # A claim that scanned the neighbour's 50,000 rows would take far longer.
    assert statistics.median(latencies) < 0.05, latencies

    claim = (
        "SELECT id FROM core.jobs j WHERE j.organization_id = $1 AND j.queue_name = $2 "
        "AND j.status IN ('pending', 'scheduled') ORDER BY j.priority DESC, j.created_at "
        "LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    for org in (quiet.org_id, noisy.org_id):
        plan = await _plan(pool, org, claim, org, "shared-name")
        # An index range on the caller's organization: never the whole table.
        assert "Seq Scan" not in plan, plan
        assert (
            "Index Cond: (organization_id =" in plan or "Index Cond: ((organization_id =" in plan
        ), plan

    count_plan = await _plan(
        pool, quiet.org_id, QUOTA_Q.count_active_jobs.replace("$2", "11"), quiet.org_id
    )
    assert "jobs_active_org_idx" in count_plan, count_plan
