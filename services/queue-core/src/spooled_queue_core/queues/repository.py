"""SQL of queue configuration, pause/resume, stats and deletion."""

from __future__ import annotations

import asyncpg

from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.queues.models import QueueUpdate


async def list_configs(
    conn: asyncpg.Connection, org_id: str, scope: list[str] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.list_queues, org_id, scope, limit)


async def get(conn: asyncpg.Connection, org_id: str, queue: str) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.get_queue, org_id, queue)


async def upsert(
    conn: asyncpg.Connection,
    org_id: str,
    queue: str,
    upd: QueueUpdate,
    defaults: tuple[int, int],
    channel: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
        Q.upsert_queue_config,
        org_id,
        queue,
        upd.max_retries,
        upd.default_timeout,
        upd.rate_limit,
        upd.enabled,
        upd.settings,
        *defaults,
        channel,
    )


async def pause(
    conn: asyncpg.Connection, org_id: str, queue: str, reason: str | None, defaults: tuple[int, int]
) -> asyncpg.Record:
    return await conn.fetchrow(Q.pause_queue, org_id, queue, *defaults, reason)


async def resume(
    conn: asyncpg.Connection, org_id: str, queue: str, channel: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.resume_queue, org_id, queue, channel)


async def presence(conn: asyncpg.Connection, org_id: str, queue: str) -> asyncpg.Record:
    return await conn.fetchrow(Q.queue_presence, org_id, queue)


async def delete(conn: asyncpg.Connection, org_id: str, queue: str, *, with_jobs: bool) -> None:
    if with_jobs:
        await conn.fetchval(Q.delete_queue_jobs, org_id, queue)
    await conn.execute(Q.delete_queue_config, org_id, queue)


async def stats(conn: asyncpg.Connection, org_id: str, queue: str) -> asyncpg.Record:
    return await conn.fetchrow(Q.queue_stats, org_id, queue)
