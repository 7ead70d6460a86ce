"""SQL of workflows and job dependencies (``workflows/queries.sql``), inside the caller's tx."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from spooled_common import sql

from spooled_queue_core.workflows.models import NewWorkflow

Q = sql.Queries.load(__name__.rpartition(".")[0])


# -- create ------------------------------------------------------------------------
async def count_active_locked(conn: asyncpg.Connection, org_id: str) -> int:
    """Active workflows of the org, holding the org's cap lock until commit."""
    await conn.execute(Q.lock_org_workflows, org_id)
    return int(await conn.fetchval(Q.count_active_workflows, org_id))


async def insert_workflow(
    conn: asyncpg.Connection, org_id: str, workflow_id: str, wf: NewWorkflow
) -> None:
    await conn.execute(
        Q.insert_workflow,
        workflow_id,
        org_id,
        wf.name,
        wf.description,
        wf.metadata,
        len(wf.jobs),
    )


async def insert_jobs(
    conn: asyncpg.Connection,
    org_id: str,
    workflow_id: str,
    wf: NewWorkflow,
    ids: Sequence[str],
    defaults: tuple[int, int],
    channel: str,
) -> int:
    columns: list[list[Any]] = [[] for _ in range(10)]
    for job_id, job in zip(ids, wf.jobs, strict=True):
        values = (
            job_id,
            job.key,
            job.queue_name,
            job.payload,
            job.priority,
            job.max_retries,
            job.timeout_seconds,
            job.expires_at,
            job.dependency_mode,
            bool(job.depends_on),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return int(
        await conn.fetchval(
            Q.insert_workflow_jobs, org_id, workflow_id, *columns, *defaults, channel
        )
    )


async def insert_edges(
    conn: asyncpg.Connection, org_id: str, edges: Sequence[tuple[str, str, str]]
) -> int:
    """Insert (child, parent, mode) edges; returns how many were new."""
    if not edges:
        return 0
    children, parents, modes = (list(col) for col in zip(*edges, strict=True))
    return len(await conn.fetch(Q.insert_edges, org_id, children, parents, modes))


# -- reads -------------------------------------------------------------------------
async def list_workflows(
    conn: asyncpg.Connection,
    org_id: str,
    status: str | None,
    scope: list[str] | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.list_workflows, org_id, status, scope, limit, offset)


async def get(
    conn: asyncpg.Connection, org_id: str, workflow_id: str, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.get_workflow, workflow_id, org_id, scope)


async def jobs(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(Q.workflow_jobs, workflow_id, org_id)


async def edges(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(Q.workflow_edges, workflow_id, org_id)


# -- cancel and retry ----------------------------------------------------------------
async def lock_jobs(
    conn: asyncpg.Connection, org_id: str, workflow_id: str, statuses: Sequence[str]
) -> list[str]:
    rows = await conn.fetch(Q.lock_workflow_jobs, workflow_id, org_id, list(statuses))
    return [r["id"] for r in rows]


async def lock_status(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> str | None:
    row = await conn.fetchrow(Q.lock_workflow, workflow_id, org_id)
    return None if row is None else str(row["status"])


async def mark_cancelled(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> None:
    await conn.execute(Q.mark_workflow_cancelled, workflow_id, org_id)


async def cancel_jobs(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> int:
    return int(await conn.fetchval(Q.cancel_workflow_jobs, workflow_id, org_id))


async def reset_jobs(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> list[str]:
    rows = await conn.fetch(Q.reset_workflow_jobs, workflow_id, org_id)
    return [r["id"] for r in rows]


async def apply_dependency_states(
    conn: asyncpg.Connection, org_id: str, job_ids: Sequence[str]
) -> dict[str, str | None]:
    """Judge each job's dependencies (the caller holds the rows' locks); {id: state}."""
    if not job_ids:
        return {}
    rows = await conn.fetch(Q.apply_dependency_states, org_id, list(job_ids))
    return {r["id"]: r["state"] for r in rows}


async def refresh(conn: asyncpg.Connection, org_id: str, workflow_id: str) -> str | None:
    status = await conn.fetchval(Q.refresh_workflow, workflow_id, org_id)
    return None if status is None else str(status)


# -- job dependencies ----------------------------------------------------------------
async def dependency_job(
    conn: asyncpg.Connection,
    org_id: str,
    job_id: str,
    scope: list[str] | None,
    *,
    for_update: bool = False,
) -> asyncpg.Record | None:
    query = Q.lock_dependency_job if for_update else Q.dependency_job
    return await conn.fetchrow(query, job_id, org_id, scope)


async def parents(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.job_parents, job_id, org_id, scope)


async def children(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.job_children, job_id, org_id, scope)


async def share_lock(
    conn: asyncpg.Connection, org_id: str, job_ids: Sequence[str], scope: list[str] | None
) -> dict[str, str]:
    """{id: status} of the jobs that exist (and are in scope), locked FOR SHARE."""
    rows = await conn.fetch(Q.share_lock_jobs, org_id, list(job_ids), scope)
    return {r["id"]: r["status"] for r in rows}


async def waiting_on(conn: asyncpg.Connection, org_id: str, job_id: str) -> set[str]:
    return {r["id"] for r in await conn.fetch(Q.waiting_on, job_id, org_id)}


async def set_mode(conn: asyncpg.Connection, org_id: str, job_id: str, mode: str) -> None:
    await conn.execute(Q.set_dependency_mode, job_id, org_id, mode)
