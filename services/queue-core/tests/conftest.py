"""Shared fixtures: one migrated database for the session, a fresh org per test.

Tenancy makes the org the isolation unit, so tests share a database and each
uses its own organization; tests that sweep every tenant (the reaper) use a
database of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from spooled_common.db import create_pool
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_queue_core import db
from spooled_queue_core.app import build_services
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.testing import make_settings
from spooled_queue_core.wakeup import Wakeup
from spooled_testing.postgres import PostgresServer

# pg_server / fresh_dsn come from spooled_testing.fixtures, loaded for every
# package by `-p spooled_testing.fixtures` in the root pytest addopts.


@pytest.fixture(scope="session")
async def core_dsn(pg_server: PostgresServer) -> str:
    dsn = pg_server.create_database(f"qc_{uuid.uuid4().hex[:8]}")
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    return dsn


@pytest.fixture(scope="session")
async def pool(core_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(core_dsn, min_size=2, max_size=12)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def wakeup(core_dsn: str) -> AsyncIterator[Wakeup]:
    w = Wakeup(core_dsn)
    await w.start()
    yield w
    await w.stop()


@pytest.fixture(scope="session")
def settings(core_dsn: str) -> QueueCoreSettings:
    return make_settings(core_dsn, QUEUE_CORE_CLAIM_RECHECK_SECS=30)


@pytest.fixture(scope="session")
def services(pool: asyncpg.Pool, settings: QueueCoreSettings, wakeup: Wakeup) -> Services:
    return build_services(pool, settings, wakeup)


@pytest.fixture
def tenant() -> Tenant:
    """A brand-new organization with access to every queue."""
    return Tenant(f"org-{uuid.uuid4()}")
