"""The hot-path queries use their indexes at depth: EXPLAIN at 100,000 jobs, no seq scan on jobs.

Plans are checked both as a one-off (custom plan, the parameters known) and
as the generic plan a long-lived prepared statement switches to after a few
executions (asyncpg keeps statements prepared per connection): a generic plan
that scanned the table would make every claim slow once a connection warmed up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from spooled_common.migrate import migrate
from spooled_queue_core import db
from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.quota import QUERIES as QUOTA_Q

ORG = "org-plans"
QUEUE = "deep"
DEPTH = 100_000


@pytest.fixture(scope="module")
async def deep(pg_server: Any) -> AsyncIterator[asyncpg.Connection]:
    """A database whose jobs table holds 100,000 pending jobs of one queue plus finished ones."""
    dsn = pg_server.create_database("qc_plans")
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    conn = await asyncpg.connect(dsn)
    await conn.execute("SELECT set_config('app.maintenance', 'on', false)")
    await conn.execute(
        """INSERT INTO core.jobs (id, organization_id, queue_name, status, payload, created_at)
           SELECT 'p' || g, $1, $2, 'pending', '{}'::jsonb, now() + g * interval '1 ms'
           FROM generate_series(1, $3) g""",
        ORG,
        QUEUE,
        DEPTH,
    )
    await conn.execute(
        """INSERT INTO core.jobs (id, organization_id, queue_name, status, payload,
                                  completed_at)
           SELECT 'c' || g, 'org-' || (g % 50), 'q' || (g % 7), 'completed', '{}'::jsonb, now()
           FROM generate_series(1, $1) g""",
        DEPTH,
    )
    await conn.execute("ANALYZE core.jobs")
    yield conn
    await conn.close()


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)


async def _plans(
    conn: asyncpg.Connection, sql: str, types: str, args: str, org: str = ORG
) -> list[list[dict]]:
    """[custom plan nodes, generic plan nodes] of ``sql`` with these literal arguments."""
    out = []
    for mode in ("force_custom_plan", "force_generic_plan"):
        async with conn.transaction():
            await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
            await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org)
            await conn.execute(f"PREPARE q({types}) AS {sql}")
            try:
                raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE q({args})")
            finally:
                await conn.execute("DEALLOCATE q")
        doc = json.loads(raw) if isinstance(raw, str) else raw
        out.append(list(_walk(doc[0]["Plan"])))
    return out


def _seq_scans_on_jobs(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "jobs"]


async def test_claim_walks_the_partial_claim_index(deep: asyncpg.Connection) -> None:
    for nodes in await _plans(
        deep, Q.claim_jobs, "text, text, int, text, float8", f"'{ORG}', '{QUEUE}', 10, 'w', 30"
    ):
        assert not _seq_scans_on_jobs(nodes)
        assert any(n.get("Index Name") == "jobs_claim_idx" for n in nodes)


async def test_batched_complete_looks_jobs_up_by_primary_key(deep: asyncpg.Connection) -> None:
    args = (
        f"'{ORG}', ARRAY['p1','p2'], ARRAY['w','w'], ARRAY['l','l'], ARRAY[NULL,NULL]::text[], NULL"
    )
    for nodes in await _plans(
        deep, Q.complete_jobs, "text, text[], text[], text[], text[], text[]", args
    ):
        assert not _seq_scans_on_jobs(nodes)
        assert any(n.get("Index Name") == "jobs_pkey" for n in nodes)


async def test_active_jobs_count_uses_the_active_index(deep: asyncpg.Connection) -> None:
    # An org with thousands of finished jobs and nothing active: a scan would
    # read all of them on every admission.
    plans = await _plans(deep, QUOTA_Q.count_active_jobs, "text, bigint", "'org-1', 6", "org-1")
    for nodes in plans:
        assert not _seq_scans_on_jobs(nodes)
        assert any(n.get("Index Name") == "jobs_active_org_idx" for n in nodes)


async def test_upkeep_settings_are_on_the_hot_tables(deep: asyncpg.Connection) -> None:
    rows = await deep.fetch(
        "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'core' AND c.relname IN ('jobs', 'outbox', 'job_history')"
    )
    options = {r["relname"]: set(r["reloptions"] or ()) for r in rows}
    assert "autovacuum_vacuum_scale_factor=0.02" in options["jobs"]
    assert "autovacuum_vacuum_scale_factor=0.01" in options["outbox"]
    assert "autovacuum_vacuum_insert_scale_factor=0.05" in options["job_history"]


async def test_retention_walks_one_org_by_creation_time(deep: asyncpg.Connection) -> None:
    plans = await _plans(
        deep,
        Q.delete_expired_jobs,
        "text, timestamptz, int",
        "'org-1', now() + interval '1 day', 1000",
        "org-1",
    )
    for nodes in plans:
        assert not _seq_scans_on_jobs(nodes)
