"""Helpers shared by the webhooks service tests (imported as a top-level module)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import webhooks_pb2_grpc
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.jobs.models import NewJob
from spooled_webhooks.settings import WebhooksSettings

INTERNAL_TOKEN = "test-webhooks-internal-token"


def wh_settings(dsn: str, nats_url: str = "", **env: Any) -> WebhooksSettings:
    """Loopback, ephemeral ports, a consumer of its own, fast retries; ``env`` on top."""
    values: dict[str, Any] = {
        "DATABASE_URL": dsn,
        "NATS_URL": nats_url,
        "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "WEBHOOKS_GRPC_HOST": "127.0.0.1",
        "WEBHOOKS_GRPC_PORT": 0,
        "WEBHOOKS_HTTP_HOST": "127.0.0.1",
        "WEBHOOKS_HTTP_PORT": 0,
        "WEBHOOKS_ALLOWED_HOSTS": "127.0.0.1",
        "WEBHOOKS_CONSUMER_NAME": f"test-{uuid.uuid4().hex[:10]}",
        "WEBHOOKS_CONSUMER_DELIVER_POLICY": "new",
        "WEBHOOKS_POLL_INTERVAL_SECS": 0.05,
        "WEBHOOKS_RETRY_BASE_SECS": 0.1,
        "WEBHOOKS_RETRY_MAX_SECS": 1.0,
        "WEBHOOKS_REQUEST_TIMEOUT_SECS": 5.0,
        "WEBHOOKS_CLAIM_LEASE_SECS": 10.0,
        "WEBHOOKS_SHUTDOWN_GRACE_SECS": 2.0,
        "DATABASE_MIN_CONNECTIONS": 1,
        "DATABASE_MAX_CONNECTIONS": 6,
    }
    values.update(env)
    return WebhooksSettings(**values)


async def wait_until(
    fn: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        await asyncio.sleep(0.05)


async def until_received(
    receiver: Any, n: int, timeout: float = 20.0, path: str | None = None
) -> list[Any]:
    """Wait (without blocking the event loop) for ``n`` requests at the receiver."""

    async def enough() -> Any:
        got = receiver.received(path)
        return got if len(got) >= n else None

    return await wait_until(enough, timeout, f"{n} request(s) at the receiver")


class Rpc:
    """The service's gRPC API as the gateway calls it: ``await api.call(org, "GetWebhook", req)``."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = webhooks_pb2_grpc.WebhooksStub(self._channel)

    async def call(self, org: str, method: str, request: Any) -> Any:
        try:
            return await getattr(self.stub, method)(
                request, metadata=rpc.call_metadata(INTERNAL_TOKEN, Tenant(org)), timeout=20
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def close(self) -> None:
        await self._channel.close()


# -- jobs through the real queue-core (in this process) --------------------------------
async def run_job(
    core: QueueCoreApp,
    org: str,
    queue: str = "q",
    *,
    fail: bool = False,
    **fields: Any,
) -> str:
    """Create, claim and complete (or terminally fail) one job; returns its id."""
    assert core.services is not None
    tenant = Tenant(org)
    if fail:
        fields.setdefault("max_retries", 0)
    created = await core.services.jobs.create(tenant, NewJob(queue, **fields))
    [row] = await core.services.leases.claim(tenant, queue, "w1")
    assert row["id"] == created.job_id
    if fail:
        await core.services.leases.fail(tenant, row["id"], "w1", row["lease_id"], "boom")
    else:
        await core.services.leases.complete(tenant, row["id"], "w1", row["lease_id"], '{"ok": 1}')
    return created.job_id
