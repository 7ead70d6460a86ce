"""SQL of schedules and their runs; the caller owns the transaction.

Every function names the organization; ``scope`` is the caller's queue scope
(None = every queue), under which out-of-scope schedules do not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from spooled_scheduler.db import QUERIES as Q
from spooled_scheduler.schedules.models import ScheduleFields

Scope = list[str] | None


async def count_active(conn: asyncpg.Connection, org_id: str) -> int:
    """Active schedules of the org, under the org's cap lock (held until commit)."""
    await conn.execute(Q.lock_org_schedules, org_id)
    return int(await conn.fetchval(Q.count_active_schedules, org_id))


async def insert(
    conn: asyncpg.Connection,
    org_id: str,
    f: ScheduleFields,
    next_run_at: datetime | None,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        Q.insert_schedule,
        str(uuid.uuid4()),
        org_id,
        f.name,
        f.description,
        f.cron_expression,
        f.timezone,
        f.queue_name,
        f.payload_template,
        f.priority,
        f.max_retries,
        f.timeout_seconds,
        next_run_at,
        f.tags,
        f.metadata,
        f.missed_run_policy,
        f.catch_up_limit,
        f.overlap_policy,
        now,
    )


async def get(
    conn: asyncpg.Connection,
    org_id: str,
    schedule_id: str,
    scope: Scope,
    *,
    for_update: bool = False,
) -> asyncpg.Record | None:
    query = Q.get_schedule_for_update if for_update else Q.get_schedule
    return await conn.fetchrow(query, schedule_id, org_id, scope)


async def list_page(
    conn: asyncpg.Connection,
    org_id: str,
    scope: Scope,
    queue_name: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(Q.list_schedules, org_id, scope, queue_name, is_active, limit, offset)
    )


async def update(
    conn: asyncpg.Connection,
    org_id: str,
    schedule_id: str,
    f: ScheduleFields,
    next_run_at: datetime | None,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        Q.update_schedule,
        schedule_id,
        org_id,
        f.name,
        f.description,
        f.cron_expression,
        f.timezone,
        f.payload_template,
        f.priority,
        f.max_retries,
        f.timeout_seconds,
        f.tags,
        f.metadata,
        f.is_active,
        next_run_at,
        f.missed_run_policy,
        f.catch_up_limit,
        f.overlap_policy,
        now,
    )


async def delete(conn: asyncpg.Connection, org_id: str, schedule_id: str, scope: Scope) -> bool:
    return await conn.fetchval(Q.delete_schedule, schedule_id, org_id, scope) is not None


async def record_manual_run(
    conn: asyncpg.Connection, org_id: str, schedule_id: str, at: datetime
) -> asyncpg.Record:
    return await conn.fetchrow(Q.record_manual_run, schedule_id, org_id, at)


@dataclass(frozen=True, slots=True)
class Run:
    """One schedule_runs row to write."""

    organization_id: str
    schedule_id: str
    #: completed | failed | skipped
    status: str
    #: cron | manual | missed
    kind: str
    started_at: datetime
    scheduled_for: datetime | None = None
    job_id: str | None = None
    error_message: str | None = None
    id: str = ""


async def insert_run(conn: asyncpg.Connection, run: Run) -> str | None:
    """Write a run; None when its cron tick was already recorded."""
    run_id = run.id or str(uuid.uuid4())
    return await conn.fetchval(
        Q.insert_run,
        run_id,
        run.organization_id,
        run.schedule_id,
        run.job_id,
        run.status,
        run.error_message,
        run.kind,
        run.scheduled_for,
        run.started_at,
        run.started_at,
    )


async def list_runs(
    conn: asyncpg.Connection, org_id: str, schedule_id: str, limit: int
) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q.list_runs, schedule_id, org_id, limit))


async def last_run_job(conn: asyncpg.Connection, org_id: str, schedule_id: str) -> str | None:
    return await conn.fetchval(Q.last_run_job, schedule_id, org_id)
