"""Pytest plugin for the job-route tests: real queue-core, real Postgres, gateway in-process.

* ``queue_core``: one queue-core per test module, started as its own process
  (``spooled-queue-core serve``, as in production) on loopback ports, against
  a fresh database migrated with queue-core's own migrations.
* ``core_gateway``: the FastAPI app in this process, inside its lifespan, talking
  to that queue-core over real gRPC.
* ``api``: an ``httpx.AsyncClient`` for a brand-new organization per test, so
  tests share the stack but never each other's jobs.

Authentication is replaced by a dependency override that reads the tenant from
``X-Test-Org`` / ``X-Test-Queues``: these tests cover routing, validation and
the queue-core round trip. Tests marked ``real_auth_later`` in their docstring
should also run with real API keys once organization bootstrap is wired.

Enable with ``pytest_plugins = ["core_stack"]``. Fixture names
avoid the generic ones of ``tests/conftest.py`` (``gateway`` there is a different app).
"""

from __future__ import annotations

import itertools
import os
import secrets
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from spooled_common.migrate import migrate
from spooled_gateway.app import create_app
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.settings import GatewaySettings
from spooled_testing.nats import NatsServer
from spooled_testing.postgres import SUPERUSER, PostgresServer, free_port
from spooled_testing.stack import Service

#: Small enough that the 413 tests stay cheap (tests send 70 000-byte documents).
MAX_PAYLOAD_BYTES = 64 * 1024
INTERNAL_TOKEN = "test-" + secrets.token_hex(8)
_db_counter = itertools.count()


@dataclass
class Core:
    addr: str
    dsn: str
    admin_dsn: str


@pytest.fixture(scope="module")
async def queue_core(pg_server: PostgresServer, nats_server: NatsServer) -> AsyncIterator[Core]:
    """queue-core as a process on loopback, on a database of its own."""
    name = f"gw_{os.getpid()}_{next(_db_counter)}"
    dsn = pg_server.create_database(name)
    await migrate(dsn, "core", "spooled_queue_core.db.migrations")
    # The gateway's own tables too, for whatever its lifespan or middleware read.
    await migrate(dsn, "gateway", "spooled_gateway.db.migrations")
    grpc_port, http_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="spooled-core-"))
    service = Service(
        "queue-core",
        [str(Path(sys.executable).parent / "spooled-queue-core"), "serve"],
        {
            "DATABASE_URL": dsn,
            "NATS_URL": nats_server.url,
            "SPOOLED_ENV": "development",
            "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "QUEUE_CORE_GRPC_PORT": str(grpc_port),
            "QUEUE_CORE_HTTP_PORT": str(http_port),
            "LOG_LEVEL": "WARNING",
            # Routing tests, not plan limits: unmetered (test_limits_*.py meter).
            "BILLING_ADDR": "",
        },
        f"http://127.0.0.1:{http_port}/ready",
        logs / "queue-core.log",
    )
    service.start()
    try:
        service.wait_ready(60)
        yield Core(f"127.0.0.1:{grpc_port}", dsn, pg_server.dsn_for(name, SUPERUSER))
    finally:
        service.stop()


def _test_principal(request: Request) -> Principal:
    org = request.headers.get("x-test-org") or "org-default"
    queues = tuple(q for q in request.headers.get("x-test-queues", "").split(",") if q)
    return Principal(org_id=org, api_key_id=f"key-{org}", queues=queues, via="api_key")


@dataclass
class Gateway:
    app: FastAPI
    core: Core


@pytest.fixture(scope="module")
async def core_gateway(queue_core: Core) -> AsyncIterator[Gateway]:
    settings = GatewaySettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": queue_core.dsn,
            "QUEUE_CORE_ADDR": queue_core.addr,
            "GRPC_PORT": 0,
            "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "QUEUE_MAX_PAYLOAD_SIZE_BYTES": MAX_PAYLOAD_BYTES,
            "DATABASE_MIN_CONNECTIONS": 1,
            "DATABASE_MAX_CONNECTIONS": 2,
        }
    )
    app = create_app(settings)
    app.dependency_overrides[require_principal] = _test_principal
    async with app.router.lifespan_context(app):
        yield Gateway(app, queue_core)


@dataclass
class Api:
    """A client acting as one organization, plus direct (superuser) counts of what exists."""

    client: httpx.AsyncClient
    org: str
    gateway: Gateway

    @property
    def max_payload_bytes(self) -> int:
        return int(self.gateway.app.state.settings.max_payload_bytes)

    def stranger(self) -> httpx.AsyncClient:
        """A client for another, brand-new organization."""
        return client_for(self.gateway.app, str(uuid.uuid4()))

    def scoped(self, *queues: str) -> httpx.AsyncClient:
        """A client for the same org whose API key only covers ``queues``."""
        return client_for(self.gateway.app, self.org, queues)

    async def count(self, table: str = "jobs", where: str = "") -> int:
        conn = await asyncpg.connect(self.gateway.core.admin_dsn)
        try:
            sql = f"SELECT count(*) FROM core.{table} WHERE organization_id = $1 {where}"
            return int(await conn.fetchval(sql, self.org))
        finally:
            await conn.close()

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.gateway.core.admin_dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    # Shortcuts used across the test modules.
    async def enqueue(self, queue: str = "q", payload: Any = None, **fields: Any) -> str:
        r = await self.client.post(
            "/jobs", json={"queue_name": queue, "payload": payload or {}, **fields}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def claim(
        self, queue: str = "q", worker: str = "w1", limit: int = 1, **fields: Any
    ) -> list[dict[str, Any]]:
        r = await self.client.post(
            "/jobs/claim",
            json={
                "queue_name": queue,
                "worker_id": worker,
                "limit": limit,
                "lease_duration_secs": 30,
                **fields,
            },
        )
        assert r.status_code == 200, r.text
        return list(r.json()["jobs"])

    async def dead_letter(self, queue: str = "q", payload: Any = None) -> str:
        """A job driven to the DLQ the way a worker would (no retries left, then fail)."""
        job_id = await self.enqueue(queue, payload, max_retries=0)
        [job] = await self.claim(queue, worker="dlq-maker")
        assert job["id"] == job_id
        r = await self.client.post(
            f"/jobs/{job_id}/fail",
            json={"worker_id": "dlq-maker", "error": "boom", "lease_id": job["lease_id"]},
        )
        assert r.status_code == 200, r.text
        return job_id


def client_for(app: FastAPI, org: str, queues: tuple[str, ...] = ()) -> httpx.AsyncClient:
    headers = {"x-test-org": org}
    if queues:
        headers["x-test-queues"] = ",".join(queues)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway/api/v1", headers=headers
    )


@pytest.fixture
async def api(core_gateway: Gateway) -> AsyncIterator[Api]:
    org = str(uuid.uuid4())
    async with client_for(core_gateway.app, org) as client:
        yield Api(client, org, core_gateway)
