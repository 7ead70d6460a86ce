"""SQL of worker registration, heartbeats and deregistration."""

from __future__ import annotations

import asyncpg

from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.workers.models import NewWorker


async def register(
    conn: asyncpg.Connection, org_id: str, worker_id: str, w: NewWorker, max_concurrency: int
) -> asyncpg.Record | None:
    """The registered row, or None when the id belongs to another organization."""
    return await conn.fetchrow(
        Q.register_worker,
        worker_id,
        org_id,
        w.queue_name,
        w.hostname,
        w.worker_type,
        max_concurrency,
        w.metadata,
        w.version,
    )


async def list_workers(
    conn: asyncpg.Connection, org_id: str, scope: list[str] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(Q.list_workers, org_id, scope, limit)


async def get(
    conn: asyncpg.Connection, org_id: str, worker_id: str, scope: list[str] | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.get_worker, worker_id, org_id, scope)


async def heartbeat(
    conn: asyncpg.Connection,
    org_id: str,
    worker_id: str,
    current_jobs: int,
    status: str,
    metadata: str | None,
    scope: list[str] | None,
) -> str | None:
    """The worker's status after the heartbeat, or None when it is unknown."""
    value = await conn.fetchval(
        Q.worker_heartbeat, worker_id, org_id, current_jobs, status, metadata, scope
    )
    return None if value is None else str(value)


async def deregister(
    conn: asyncpg.Connection, org_id: str, worker_id: str, scope: list[str] | None, channel: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(Q.deregister_worker, worker_id, org_id, channel, scope)
