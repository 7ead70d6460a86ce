"""Helpers for tests that drive queue-core in-process (shipped with the package).

They use ``maintenance_tx`` to reach across tenants: ageing a lease or
rewinding a schedule is how a test stands in for the passage of time.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from spooled_common.db import maintenance_tx
from spooled_common.tenant import Tenant

from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob
from spooled_queue_core.settings import QueueCoreSettings


def make_settings(dsn: str, **env: Any) -> QueueCoreSettings:
    """Settings for a test instance: loopback, ephemeral ports, ``env`` on top."""
    values: dict[str, Any] = {
        "DATABASE_URL": dsn,
        "QUEUE_CORE_GRPC_PORT": 0,
        "QUEUE_CORE_HTTP_PORT": 0,
        "QUEUE_CORE_GRPC_HOST": "127.0.0.1",
        "QUEUE_CORE_HTTP_HOST": "127.0.0.1",
        # Unmetered unless a test points it at a billing service.
        "BILLING_ADDR": "",
    }
    values.update(env)
    return QueueCoreSettings(**values)


async def enqueue(services: Services, tenant: Tenant, queue: str = "q", **fields: Any) -> str:
    """Create one job; returns its id."""
    created = await services.jobs.create(tenant, NewJob(queue, **fields))
    return created.job_id


async def claim_one(
    services: Services, tenant: Tenant, queue: str = "q", worker: str = "w1", **kw: Any
) -> asyncpg.Record:
    """Claim exactly one job (fails if there is none)."""
    [row] = await services.leases.claim(tenant, queue, worker, **kw)
    return row


async def sql(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run a statement across tenants (to age leases, rewind clocks, inspect)."""
    async with maintenance_tx(pool) as conn:
        return await conn.fetch(query, *args)


async def expire_lease(pool: asyncpg.Pool, job_id: str) -> None:
    await sql(
        pool,
        "UPDATE core.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        job_id,
    )


async def job_row(pool: asyncpg.Pool, job_id: str) -> asyncpg.Record:
    [row] = await sql(pool, "SELECT * FROM core.jobs WHERE id = $1", job_id)
    return row
