"""SQL of the diagnosis (``diagnose/queries.sql``); read-only, inside the caller's tenant_tx."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from spooled_common import sql

from spooled_queue_core.diagnose.models import Dependency, LeaseHolder, QueueWorkers

Q = sql.Queries.load(__name__.rpartition(".")[0])

#: Dependency edges of the workflows feature (``core.job_dependencies``), if
#: that migration is applied; parent_job_id edges need no extra table.
_DEPENDENCY_TABLE = "core.job_dependencies"


async def job(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.job_facts, job_id, org_id, scope)


async def dependencies(
    conn: asyncpg.Connection, org_id: str, job: asyncpg.Record
) -> list[Dependency]:
    """Both kinds of edge: ``parent_job_id`` and rows of ``core.job_dependencies``."""
    found: list[Dependency] = []
    if job["parent_job_id"]:
        row = await conn.fetchrow(Q.parent_dependency, org_id, job["parent_job_id"])
        if row is not None:
            found.append(Dependency(row["id"], row["queue_name"], row["status"], "parent_job_id"))
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", _DEPENDENCY_TABLE):
        rows = await conn.fetch(Q.dependency_edges, org_id, job["id"])
        seen = {d.job_id for d in found}
        found += [
            Dependency(r["id"], r["queue_name"], r["status"], "job_dependencies")
            for r in rows
            if r["id"] not in seen
        ]
    return found


async def queue_workers(
    conn: asyncpg.Connection, org_id: str, queue: str, window_secs: int
) -> QueueWorkers:
    row = await conn.fetchrow(Q.queue_workers, org_id, queue, window_secs)
    return QueueWorkers(**dict(row))


async def lease_holder(
    conn: asyncpg.Connection, org_id: str, worker_id: str | None
) -> LeaseHolder | None:
    if not worker_id:
        return None
    row = await conn.fetchrow(Q.worker_facts, org_id, worker_id)
    if row is None:
        return None
    return LeaseHolder(row["id"], row["hostname"], row["status"], row["last_heartbeat"])


async def ahead_in_line(conn: asyncpg.Connection, org_id: str, job: asyncpg.Record) -> int:
    return int(
        await conn.fetchval(
            Q.position_in_line,
            org_id,
            job["queue_name"],
            job["priority"],
            job["created_at"],
            job["id"],
        )
    )


async def last_event(
    conn: asyncpg.Connection, org_id: str, job_id: str, types: list[str]
) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q.last_event, org_id, job_id, types)
    if row is None:
        return None
    out = dict(row)
    out["details"] = orjson.loads(row["details"]) if row["details"] else {}
    return out


async def dead_letter_reason(conn: asyncpg.Connection, org_id: str, job_id: str) -> str | None:
    row = await conn.fetchrow(Q.dead_letter_record, org_id, job_id)
    return None if row is None else row["reason"]
