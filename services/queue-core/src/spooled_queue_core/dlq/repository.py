"""SQL of the dead-letter queue (a dead-lettered job keeps its row; see db/queries.sql)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from spooled_queue_core.db import QUERIES as Q


async def retry(
    conn: asyncpg.Connection,
    org_id: str,
    job_ids: list[str],
    queue: str | None,
    limit: int,
    scope: list[str] | None,
    channel: str,
) -> list[str]:
    rows = await conn.fetch(Q.retry_dead_letters, org_id, job_ids, queue, limit, scope, channel)
    return [r["id"] for r in rows]


async def purge(
    conn: asyncpg.Connection,
    org_id: str,
    queue: str | None,
    older_than: datetime | None,
    limit: int,
    scope: list[str] | None,
) -> int:
    return int(await conn.fetchval(Q.purge_dead_letters, org_id, queue, older_than, limit, scope))
