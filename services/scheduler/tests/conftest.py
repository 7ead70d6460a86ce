"""Shared fixtures: one database with the core and scheduler schemas, a real
queue-core running in-process on loopback gRPC, a controllable clock.

Firing is cross-tenant and the leader lease is one row, so tests that fire
start from empty scheduler tables (``clean``); tests that only use the CRUD
API isolate themselves with a fresh organization each (``tenant``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sched_helpers import INTERNAL_TOKEN, T0, RecordingQueueCore
from spooled_common.db import create_pool, maintenance_tx
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.testing import make_settings as core_settings
from spooled_scheduler import db
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.queue_core import QueueCoreClient
from spooled_testing.postgres import PostgresServer


@pytest.fixture(scope="session")
async def dsn(pg_server: PostgresServer) -> str:
    """One database holding queue-core's schema and ours (as in `make run`)."""
    dsn = pg_server.create_database(f"sched_{uuid.uuid4().hex[:8]}")
    await migrate(dsn, "core", "spooled_queue_core.db.migrations")
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    return dsn


@pytest.fixture(scope="session")
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(dsn, min_size=2, max_size=12)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def queue_core(dsn: str) -> AsyncIterator[QueueCoreApp]:
    """The real queue-core service, in this process, on a loopback gRPC port."""
    app = QueueCoreApp(
        core_settings(dsn, SPOOLED_INTERNAL_TOKEN=INTERNAL_TOKEN, DATABASE_MAX_CONNECTIONS=6)
    )
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def core_client(queue_core: QueueCoreApp) -> AsyncIterator[QueueCoreClient]:
    client = QueueCoreClient(f"127.0.0.1:{queue_core.grpc_port}", INTERNAL_TOKEN)
    yield client
    await client.close()


@pytest.fixture
def tenant() -> Tenant:
    """A brand-new organization with access to every queue."""
    return Tenant(f"org-{uuid.uuid4()}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> None:
    """Empty scheduler tables (schedules, runs, the lease) for a firing test."""
    async with maintenance_tx(pool) as conn:
        await conn.execute(
            "TRUNCATE scheduler.schedule_runs, scheduler.schedules, scheduler.leader"
        )


@pytest.fixture
def recording() -> RecordingQueueCore:
    return RecordingQueueCore()
