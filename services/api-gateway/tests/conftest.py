"""Shared fixtures for gateway tests: a migrated gateway database, the app
driven in-process over ASGI (lifespan included), and a stand-in queue-core.

Everything here is generic; route-specific helpers live in the test modules.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from spooled_billing.app import BillingApp
from spooled_billing.testing import running_billing
from spooled_common import rpc
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_gateway.app import create_app
from spooled_gateway.settings import GatewaySettings
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc as pb_grpc
from spooled_testing.postgres import PostgresServer

GATEWAY_MIGRATIONS = "spooled_gateway.db.migrations"
#: The admin key gateway_settings() configures unless told otherwise.
TEST_ADMIN_KEY = "test-admin-key-0123456789abcdef"


#: Most gateway tests act as free-tier organizations and are not about plan
#: limits (free: 5 requests/s, 1 schedule, no workflows); like the e2e suite, they lift the
#: free tier through the documented overrides. Tests of limits set their own.
FREE_TIER_LIFTED = {
    "SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "100000",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_BURST": "100000",
    "SPOOLED_PLAN_FREE_MAX_SCHEDULES": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_WORKFLOWS": "unlimited",
}


@pytest.fixture(autouse=True)
def _lift_free_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FREE_TIER_LIFTED.items():
        monkeypatch.setenv(name, value)


def unused_addr() -> str:
    """A 127.0.0.1 address nothing listens on (for "queue-core is down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def migrated_gateway_db(dsn: str) -> str:
    await migrate(dsn, "gateway", GATEWAY_MIGRATIONS)
    return dsn


@pytest.fixture
async def gateway_dsn(fresh_dsn: str) -> str:
    """A fresh database with the gateway schema migrated."""
    return await migrated_gateway_db(fresh_dsn)


def gateway_settings(dsn: str, **overrides: Any) -> GatewaySettings:
    """Settings for an in-process gateway: no public gRPC port, queue-core
    (and billing) pointed at a dead port unless ``QUEUE_CORE_ADDR`` (``BILLING_ADDR``)
    is given."""
    values: dict[str, Any] = {
        "DATABASE_URL": dsn,
        "GRPC_PORT": 0,
        "QUEUE_CORE_ADDR": unused_addr(),
        "BILLING_ADDR": unused_addr(),
        "ADMIN_API_KEY": TEST_ADMIN_KEY,
        "DATABASE_MIN_CONNECTIONS": 1,
        "DATABASE_MAX_CONNECTIONS": 5,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def gateway_client(
    settings: GatewaySettings, *, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an httpx client.

    ``client_ip`` is the peer address the app sees (per-IP limits)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture(scope="session")
async def billing_service(pg_server: PostgresServer) -> AsyncIterator[BillingApp]:
    """A real billing service (its own database) for the gateway's plan and usage calls."""
    async with running_billing(pg_server.create_database(f"gwb_{uuid.uuid4().hex[:8]}")) as app:
        yield app


@pytest.fixture
def billing_addr(billing_service: BillingApp) -> str:
    return f"127.0.0.1:{billing_service.grpc_port}"


@pytest.fixture
def reserve_jobs(billing_service: BillingApp) -> Callable[[str, int], Any]:
    """``await reserve_jobs(org_id, n)``: count n jobs on billing's daily counter."""

    async def reserve(org_id: str, n: int) -> None:
        from spooled_proto.spooled.internal.v1 import billing_pb2, billing_pb2_grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{billing_service.grpc_port}") as ch:
            await billing_pb2_grpc.BillingStub(ch).ReserveJobs(
                billing_pb2.ReserveJobsRequest(count=n),
                metadata=rpc.call_metadata(billing_service.settings.internal_token, Tenant(org_id)),
            )

    return reserve


@pytest.fixture
def make_gateway_settings(billing_addr: str) -> Callable[..., GatewaySettings]:
    """``make_gateway_settings(dsn, **ENV_OVERRIDES)`` (see :func:`gateway_settings`),
    with the session's billing service unless ``BILLING_ADDR`` is given."""

    def make(dsn: str, **overrides: Any) -> GatewaySettings:
        return gateway_settings(dsn, **{"BILLING_ADDR": billing_addr, **overrides})

    return make


@pytest.fixture
def make_gateway_client() -> Callable[..., Any]:
    """``async with make_gateway_client(settings, client_ip=...) as client`` (lifespan runs)."""
    return gateway_client


@pytest.fixture
async def gateway(gateway_dsn: str, billing_addr: str) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway on a fresh database with queue-core unreachable (billing reachable)."""
    async with gateway_client(gateway_settings(gateway_dsn, BILLING_ADDR=billing_addr)) as client:
        yield client


# -- a stand-in queue-core -------------------------------------------------


class FakeQueueCore(pb_grpc.QueueCoreServicer):
    """Answers GetUsage from a per-org table; every other RPC is UNIMPLEMENTED.

    For tests of gateway routes that only read queue-core counters.
    """

    def __init__(self) -> None:
        self.usage: dict[str, pb.Usage] = {}
        self.calls: list[tuple[str, str | None]] = []

    async def GetUsage(self, request: pb.UsageRequest, context: Any) -> pb.Usage:
        org = dict(context.invocation_metadata() or ()).get(rpc.ORG_KEY)
        self.calls.append(("GetUsage", org))
        return self.usage.get(org or "", pb.Usage())


@pytest.fixture
async def fake_core() -> AsyncIterator[tuple[str, FakeQueueCore]]:
    """(address, servicer) of a running fake queue-core with grpc health SERVING."""
    server = grpc.aio.server()
    servicer = FakeQueueCore()
    pb_grpc.add_QueueCoreServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(grace=None)


# -- small helpers shared by API tests ---------------------------------------

_slug_counter = iter(range(1_000_000))


def unique_slug(prefix: str = "org") -> str:
    import os

    return f"{prefix}-{os.getpid()}-{next(_slug_counter)}"


async def create_org(
    client: httpx.AsyncClient,
    *,
    slug: str | None = None,
    name: str = "Acme Corp",
    **extra: Any,
) -> dict[str, Any]:
    """POST /organizations and return the 201 body (asserts success)."""
    resp = await client.post(
        "/api/v1/organizations", json={"name": name, "slug": slug or unique_slug(), **extra}
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


@pytest.fixture
def org_factory(gateway: httpx.AsyncClient) -> Callable[..., Any]:
    """``await org_factory()`` → (org JSON, raw initial API key) on ``gateway``."""

    async def make(**kwargs: Any) -> tuple[dict[str, Any], str]:
        body = await create_org(gateway, **kwargs)
        return body["organization"], body["api_key"]["key"]

    return make
