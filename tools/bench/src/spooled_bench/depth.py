"""Claim latency against queue depth: seed N pending jobs in SQL, then claim through the API.

Seeding goes straight to the database (a million jobs through the API would
take longer than the measurement is worth); the rows are what an enqueue
would write, minus the history and outbox rows nobody reads here. Claims
then go through the public REST API one job at a time, each completed
before the next, so the depth stays at N.
"""

from __future__ import annotations

import time

from spooled_bench.producers import Rest
from spooled_bench.progress import Progress, say
from spooled_bench.target import Target

#: Rows per INSERT while seeding (one transaction each).
SEED_CHUNK = 50_000

SEED_SQL = """
INSERT INTO core.jobs (id, organization_id, queue_name, status, payload, priority, created_at)
SELECT gen_random_uuid()::text, $1, $2, 'pending',
       jsonb_build_object('to', 'user@example.com', 'template', 'welcome', 'n', g),
       0, clock_timestamp()
FROM generate_series(1, $3) AS g
"""


async def seed(target: Target, queue: str, count: int) -> None:
    bar = Progress(f"seed {count:,} pending jobs in {queue}", count)
    async with target.db() as conn:
        left = count
        while left > 0:
            n = min(SEED_CHUNK, left)
            await conn.execute(SEED_SQL, target.org_id, queue, n)
            left -= n
            bar.add(n)
    bar.finish()
    say("  vacuum + analyze core.jobs (as autovacuum would, before measuring) ...")
    async with target.db() as conn:
        await conn.execute("VACUUM (ANALYZE) core.jobs")


async def claim_latencies(rest: Rest, queue: str, claims: int) -> list[float]:
    """Claim-then-complete ``claims`` times; returns each claim's latency in ms."""
    out: list[float] = []
    for _ in range(claims):
        t = time.perf_counter()
        status, doc = await rest.post(
            "/api/v1/jobs/claim",
            {"queue_name": queue, "worker_id": "bench-depth", "limit": 1},
        )
        out.append((time.perf_counter() - t) * 1000)
        if status != 200 or not doc["jobs"]:
            raise RuntimeError(f"claim at depth failed: {status} {doc}")
        job = doc["jobs"][0]
        status, doc = await rest.post(
            f"/api/v1/jobs/{job['id']}/complete",
            {"worker_id": "bench-depth", "lease_id": job["lease_id"]},
        )
        if status != 200:
            raise RuntimeError(f"complete at depth failed: {status} {doc}")
    return out


async def sql_claim_latencies(target: Target, queue: str, claims: int) -> list[float]:
    """The claim statement alone, in the database: each run claims one job and rolls back.

    What the API adds on top is the same at every depth; this isolates the
    part that could grow with it (the walk down jobs_claim_idx).
    """
    from spooled_queue_core.db import QUERIES

    out: list[float] = []
    async with target.db() as conn:
        stmt = await conn.prepare(QUERIES.claim_jobs)
        for _ in range(claims):
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute(
                    "SELECT set_config('app.current_org_id', $1, true)", target.org_id
                )
                t = time.perf_counter()
                rows = await stmt.fetch(target.org_id, queue, 1, "bench-depth", 30.0)
                out.append((time.perf_counter() - t) * 1000)
                if len(rows) != 1:
                    raise RuntimeError("the claim statement found no job at depth")
            finally:
                await tx.rollback()
    return out


async def cleanup(target: Target, queue: str) -> None:
    if target.private:
        return  # the private suite is thrown away with its data
    say(f"  removing the seeded jobs of {queue} ...")
    async with target.db() as conn:
        await conn.execute(
            "DELETE FROM core.jobs WHERE organization_id = $1 AND queue_name = $2",
            target.org_id,
            queue,
        )
