"""Shared fixtures: one database with queue-core's schema and ours, the real queue-core
in this process relaying its outbox to the real NATS, and webhooks apps built per test.

Each app gets a durable consumer of its own (``deliver_policy=new``) on the
session's NATS, so tests see only the events they cause; each test uses a
fresh organization.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from spooled_common.db import create_pool
from spooled_common.migrate import migrate
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.testing import make_settings as core_settings
from spooled_testing.nats import NatsServer
from spooled_testing.postgres import PostgresServer
from spooled_testing.receiver import WebhookReceiver
from spooled_webhooks import db
from spooled_webhooks.app import WebhooksApp
from wh_helpers import INTERNAL_TOKEN, wh_settings

_RELAY_ENV = {
    "OUTBOX_POLL_INTERVAL_SECS": "0.05",
    "OUTBOX_RETRY_MIN_SECS": "0.05",
    "OUTBOX_RETRY_MAX_SECS": "0.5",
    "OUTBOX_LEADER_RETRY_SECS": "0.2",
}


@pytest.fixture(scope="session")
async def dsn(pg_server: PostgresServer) -> str:
    dsn = pg_server.create_database(f"wh_{uuid.uuid4().hex[:8]}")
    await migrate(dsn, "core", "spooled_queue_core.db.migrations")
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    return dsn


@pytest.fixture(scope="session")
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(dsn, min_size=1, max_size=6)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def queue_core(dsn: str, nats_server: NatsServer) -> AsyncIterator[QueueCoreApp]:
    """The real queue-core, its outbox relayed to the session's NATS."""
    env = {"NATS_URL": nats_server.url, **_RELAY_ENV}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # OutboxRelay.from_env reads these at start
    try:
        app = QueueCoreApp(
            core_settings(dsn, SPOOLED_INTERNAL_TOKEN=INTERNAL_TOKEN, DATABASE_MAX_CONNECTIONS=6)
        )
        await app.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield app
    await app.stop()


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4()}"


@pytest.fixture
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def make_app(
    dsn: str, nats_server: NatsServer, queue_core: QueueCoreApp
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_app(**ENV)``: a started WebhooksApp (stopped after the test)."""
    apps: list[WebhooksApp] = []

    async def make(*, wait_subscribed: bool = True, **env: Any) -> WebhooksApp:
        env.setdefault("QUEUE_CORE_ADDR", f"127.0.0.1:{queue_core.grpc_port}")
        app = WebhooksApp(wh_settings(dsn, nats_server.url, **env))
        await app.start()
        apps.append(app)
        if wait_subscribed and app.consumer is not None:
            import asyncio

            await asyncio.wait_for(app.consumer.subscribed.wait(), 15)
        return app

    yield make
    for app in reversed(apps):
        await app.stop()
