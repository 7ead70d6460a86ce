"""Shared fixtures: one migrated billing database and one running billing for the session.

Organizations are the isolation unit, so tests share both and each uses its own
organization id; tests that need other settings start an instance of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from spooled_billing.app import BillingApp
from spooled_billing.testing import running_billing
from spooled_common import rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc
from spooled_testing.postgres import PostgresServer


@pytest.fixture(scope="session")
def billing_dsn(pg_server: PostgresServer) -> str:
    return pg_server.create_database(f"billing_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
async def billing(billing_dsn: str) -> AsyncIterator[BillingApp]:
    async with running_billing(billing_dsn, STRIPE_PRICE_PRO="price_pro_monthly") as app:
        yield app


class Client:
    """The Billing stub with the internal token and a tenant in metadata."""

    def __init__(self, app: BillingApp) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        self.stub = billing_pb2_grpc.BillingStub(self._channel)
        self._token = app.settings.internal_token

    async def call(self, method: str, request: object, org: str | None = None) -> object:
        md = rpc.call_metadata(self._token, Tenant(org) if org else None)
        return await getattr(self.stub, method)(request, metadata=md, timeout=10)

    async def close(self) -> None:
        await self._channel.close()


@pytest.fixture(scope="session")
async def client(billing: BillingApp) -> AsyncIterator[Client]:
    c = Client(billing)
    yield c
    await c.close()


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4()}"
