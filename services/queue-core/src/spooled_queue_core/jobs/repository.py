"""SQL for jobs: producers, reads and operator actions (queries in db/queries.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.jobs.models import JobFilter, NewJob

_ORDER_COLUMNS = {"created_at", "priority", "status", "queue_name"}
_DIRECTIONS = {"asc": "ASC", "desc": "DESC"}


def _direction(value: str, default: str) -> str:
    return _DIRECTIONS.get(value.lower(), default) if value else default


def list_query(order_by: str, order_dir: str) -> str:
    """The list query for a whitelisted ordering (id breaks ties for stable pages)."""
    column = order_by if order_by in _ORDER_COLUMNS else "created_at"
    direction = _direction(order_dir, "DESC")
    return Q.list_jobs.replace("{order_by}", f"{column} {direction}, id {direction}")


def history_query(order_dir: str) -> str:
    return Q.job_history.replace("{order_dir}", _direction(order_dir, "ASC"))


async def insert(
    conn: asyncpg.Connection,
    org_id: str,
    rows: Sequence[tuple[str, NewJob]],
    defaults: tuple[int, int],
    channel: str,
) -> set[str]:
    """Insert a batch in one statement; returns the ids actually inserted."""
    columns: list[list[Any]] = [[] for _ in range(13)]
    for job_id, job in rows:
        values = (
            job_id,
            job.queue_name,
            job.payload,
            job.priority,
            job.max_retries,
            job.timeout_seconds,
            job.scheduled_at,
            job.expires_at,
            job.idempotency_key,
            job.tags,
            job.parent_job_id,
            job.completion_webhook,
            job.completion_webhook_secret,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    records = await conn.fetch(Q.insert_jobs, org_id, *columns, *defaults, channel)
    return {r["id"] for r in records}


async def ids_by_idempotency_key(
    conn: asyncpg.Connection, org_id: str, keys: list[str]
) -> dict[str, str]:
    records = await conn.fetch(Q.find_by_idempotency_keys, org_id, keys)
    return {r["idempotency_key"]: r["id"] for r in records}


async def parent_queues(conn: asyncpg.Connection, org_id: str, ids: list[str]) -> dict[str, str]:
    """{parent job id: its queue} for the ids that exist in the org."""
    records = await conn.fetch(Q.parent_jobs, org_id, ids)
    return {r["id"]: r["queue_name"] for r in records}


async def get(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.get_job, job_id, org_id, scope)


async def list_jobs(
    conn: asyncpg.Connection, org_id: str, f: JobFilter, scope: list[str] | None
) -> list[asyncpg.Record]:
    """One page plus one extra row (the caller derives has_more from it)."""
    return await conn.fetch(
        list_query(f.order_by, f.order_dir),
        org_id,
        scope,
        f.queue_name,
        f.statuses,
        f.tag,
        _like(f.q),
        f.job_type,
        f.created_after,
        f.created_before,
        f.limit + 1,
        f.offset,
    )


def _like(text: str | None) -> str | None:
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def by_ids(
    conn: asyncpg.Connection, org_id: str, ids: list[str], scope: list[str] | None
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.jobs_by_ids, org_id, ids, scope)


async def status(conn: asyncpg.Connection, org_id: str, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.job_status, job_id, org_id)


async def cancel(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.cancel_job, job_id, org_id, scope)


async def retry(
    conn: asyncpg.Connection, org_id: str, job_id: str, scope: list[str] | None, channel: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.retry_job, job_id, org_id, scope, channel)


async def boost(
    conn: asyncpg.Connection, org_id: str, job_id: str, priority: int, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.boost_priority, job_id, org_id, priority, scope)


async def stats(
    conn: asyncpg.Connection, org_id: str, queue: str | None, scope: list[str] | None
) -> asyncpg.Record:
    return await conn.fetchrow(Q.job_stats, org_id, queue, scope)


async def history(
    conn: asyncpg.Connection, org_id: str, job_id: str, limit: int, offset: int, order_dir: str
) -> list[asyncpg.Record]:
    return await conn.fetch(history_query(order_dir), job_id, org_id, limit + 1, offset)
