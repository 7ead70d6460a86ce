"""SQL of the worker hot path: claim and the fenced settlements, one round trip each."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from spooled_queue_core.db import QUERIES as Q


async def claim(
    conn: asyncpg.Connection, org_id: str, queue: str, worker_id: str, limit: int, lease_secs: int
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.claim_jobs, org_id, queue, limit, worker_id, float(lease_secs))


async def complete(
    conn: asyncpg.Connection,
    org_id: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    result: str | None,
    scope: list[str] | None,
) -> asyncpg.Record | None:
    # Dependents (and their wake-ups) follow in the same transaction: trigger
    # jobs_settle_dependents_v1 of migration 0002.
    return await conn.fetchrow(Q.complete_job, job_id, org_id, worker_id, lease_id, result, scope)


async def complete_many(
    conn: asyncpg.Connection,
    org_id: str,
    items: Sequence[tuple[str, str, str, str | None]],
    scope: list[str] | None,
) -> dict[str, asyncpg.Record]:
    """Complete distinct (job id, worker id, lease id, result) items; returns the jobs done by id."""
    ids, workers, leases, results = (list(col) for col in zip(*items, strict=True))
    rows = await conn.fetch(Q.complete_jobs, org_id, ids, workers, leases, results, scope)
    return {r["id"]: r for r in rows}


async def states(
    conn: asyncpg.Connection, org_id: str, job_ids: list[str]
) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(Q.settlement_states, job_ids, org_id)
    return {r["id"]: r for r in rows}


async def fail(
    conn: asyncpg.Connection,
    org_id: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    error: str,
    retry: bool,
    scope: list[str] | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.fail_job, job_id, org_id, worker_id, lease_id, error, retry, scope)


async def heartbeat(
    conn: asyncpg.Connection,
    org_id: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    lease_secs: int,
    scope: list[str] | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        Q.heartbeat_job, job_id, org_id, worker_id, lease_id, float(lease_secs), scope
    )


async def state(conn: asyncpg.Connection, org_id: str, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.settlement_state, job_id, org_id)
