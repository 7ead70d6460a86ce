"""``/outgoing-webhooks`` and ``/webhooks`` (API.md §10) end to end: gateway in-process
(real API keys) → the webhooks service in-process over real gRPC → the real queue-core
process → Postgres and NATS; deliveries go to a real receiver on 127.0.0.1.

Response bodies are validated with the official SDK's own models.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from spooled.types import webhooks as sdk
from spooled_common.migrate import migrate
from spooled_gateway.app import create_app
from spooled_gateway.settings import GatewaySettings
from spooled_testing.nats import NatsServer
from spooled_testing.receiver import WebhookReceiver, spooled_signature_ok
from spooled_webhooks import db as webhooks_db
from spooled_webhooks.app import WebhooksApp
from spooled_webhooks.settings import WebhooksSettings

if TYPE_CHECKING:
    from core_stack import Core

pytest_plugins = ["core_stack"]


def _token() -> str:
    import core_stack

    return core_stack.INTERNAL_TOKEN


@dataclass
class Stack:
    transport: httpx.ASGITransport
    core: Core
    webhooks: WebhooksApp


@dataclass
class Org:
    id: str
    client: httpx.AsyncClient
    key: str


@pytest.fixture(scope="module")
async def stack(queue_core: Core, nats_server: NatsServer) -> AsyncIterator[Stack]:
    await migrate(queue_core.dsn, webhooks_db.SCHEMA, webhooks_db.MIGRATIONS)
    webhooks = WebhooksApp(
        WebhooksSettings(
            **{  # type: ignore[arg-type]
                "DATABASE_URL": queue_core.dsn,
                "NATS_URL": nats_server.url,
                "QUEUE_CORE_ADDR": queue_core.addr,
                "SPOOLED_INTERNAL_TOKEN": _token(),
                "WEBHOOKS_GRPC_HOST": "127.0.0.1",
                "WEBHOOKS_GRPC_PORT": 0,
                "WEBHOOKS_HTTP_HOST": "127.0.0.1",
                "WEBHOOKS_HTTP_PORT": 0,
                "WEBHOOKS_ALLOWED_HOSTS": "127.0.0.1",
                "WEBHOOKS_CONSUMER_NAME": f"gw-test-{uuid.uuid4().hex[:8]}",
                "WEBHOOKS_CONSUMER_DELIVER_POLICY": "new",
                "WEBHOOKS_POLL_INTERVAL_SECS": 0.05,
                "WEBHOOKS_RETRY_BASE_SECS": 0.1,
                "WEBHOOKS_RETRY_MAX_SECS": 0.5,
                "OUTGOING_WEBHOOK_MAX_ATTEMPTS": 2,
                "DATABASE_MAX_CONNECTIONS": 4,
            }
        )
    )
    await webhooks.start()
    assert webhooks.consumer is not None
    import asyncio

    await asyncio.wait_for(webhooks.consumer.subscribed.wait(), 15)
    settings = GatewaySettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": queue_core.dsn,
            "QUEUE_CORE_ADDR": queue_core.addr,
            "WEBHOOKS_ADDR": f"127.0.0.1:{webhooks.grpc_port}",
            "GRPC_PORT": 0,
            "SPOOLED_INTERNAL_TOKEN": _token(),
            "QUEUE_MAX_PAYLOAD_SIZE_BYTES": 64 * 1024,
            "DATABASE_MIN_CONNECTIONS": 1,
            "DATABASE_MAX_CONNECTIONS": 3,
        }
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield Stack(httpx.ASGITransport(app=app), queue_core, webhooks)
    finally:
        await webhooks.stop()


def _client(stack: Stack, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=stack.transport, base_url="http://gateway/api/v1", headers=headers, timeout=30
    )


@pytest.fixture
async def org(stack: Stack) -> AsyncIterator[Org]:
    slug = f"wh-{uuid.uuid4().hex[:10]}"
    async with _client(stack) as anon:
        r = await anon.post("/organizations", json={"name": "Webhook Org", "slug": slug})
    assert r.status_code == 201, r.text
    doc = r.json()
    async with _client(stack, doc["api_key"]["key"]) as client:
        yield Org(doc["organization"]["id"], client, doc["api_key"]["key"])


async def _count_jobs(stack: Stack, org_id: str) -> int:
    conn = await asyncpg.connect(stack.core.admin_dsn)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM core.jobs WHERE organization_id = $1", org_id)
        )
    finally:
        await conn.close()


async def _scoped_key(org: Org) -> str:
    r = await org.client.post("/api-keys", json={"name": "scoped", "queues": ["only-this"]})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


class TestOutgoing:
    async def test_crud_in_the_sdk_shapes(self, org: Org, receiver_url: str) -> None:
        r = await org.client.post(
            "/outgoing-webhooks",
            json={
                "name": "orders",
                "url": receiver_url,
                "events": ["job.completed"],
                "secret": "k",
            },
        )
        assert r.status_code == 201, r.text
        hook = sdk.OutgoingWebhook.model_validate(r.json())
        assert "secret" not in r.json() and hook.format == "json" and hook.enabled
        r = await org.client.get("/outgoing-webhooks")
        assert [sdk.OutgoingWebhook.model_validate(x).id for x in r.json()] == [hook.id]
        r = await org.client.put(
            f"/outgoing-webhooks/{hook.id}",
            json={"events": ["job.failed", "job.deadlettered"], "secret": None, "format": "slack"},
        )
        assert r.status_code == 200, r.text
        updated = sdk.OutgoingWebhook.model_validate(r.json())
        assert updated.events == ["job.failed", "job.deadlettered"] and updated.format == "slack"
        r = await org.client.delete(f"/outgoing-webhooks/{hook.id}")
        assert r.status_code == 204
        r = await org.client.get(f"/outgoing-webhooks/{hook.id}")
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"

    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            ({"events": ["job.nope"]}, "Invalid event type: 'job.nope'"),
            ({"url": "http://169.254.169.254/latest"}, "url:"),
            ({"url": "http://10.0.0.7/x"}, "url:"),
            ({"url": "http://[::1]:80/x"}, "url:"),
            ({"name": ""}, "name"),
            ({"events": "job.completed"}, "events"),
        ],
    )
    async def test_bad_requests_are_400(
        self, org: Org, receiver_url: str, body: dict[str, Any], fragment: str
    ) -> None:
        doc = {"name": "h", "url": receiver_url, "events": ["job.completed"], **body}
        r = await org.client.post("/outgoing-webhooks", json=doc)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "VALIDATION_ERROR" and fragment in r.json()["message"]

    async def test_scoped_keys_are_refused(self, stack: Stack, org: Org) -> None:
        async with _client(stack, await _scoped_key(org)) as scoped:
            r = await scoped.get("/outgoing-webhooks")
            assert r.status_code == 403 and r.json()["code"] == "ACCESS_DENIED"
            r = await scoped.get("/webhooks/deliveries")
            assert r.status_code == 403

    async def test_free_plan_cap(self, org: Org, receiver_url: str) -> None:
        doc = {"name": "h", "url": receiver_url, "events": ["job.completed"]}
        assert (await org.client.post("/outgoing-webhooks", json=doc)).status_code == 201
        r = await org.client.post("/outgoing-webhooks", json=doc)
        assert r.status_code == 429, r.text
        body = r.json()
        assert body["code"] == "QUOTA_EXCEEDED" and body["resource"] == "webhooks"
        assert (body["plan"], body["limit"], body["upgrade_to"]) == ("free", 1, "starter")
        off = await org.client.post("/outgoing-webhooks", json={**doc, "enabled": False})
        assert off.status_code == 201

    async def test_test_deliver_history_retry(
        self, stack: Stack, org: Org, receiver: WebhookReceiver
    ) -> None:
        receiver.script("/gw", [500, 500, 500, 200])
        r = await org.client.post(
            "/outgoing-webhooks",
            json={
                "name": "h",
                "url": receiver.url("/gw"),
                "events": ["job.completed"],
                "secret": "k",
            },
        )
        hook_id = r.json()["id"]
        test = sdk.TestWebhookResponse.model_validate(
            (await org.client.post(f"/outgoing-webhooks/{hook_id}/test")).json()
        )
        assert not test.success and test.status_code == 500 and test.error == "HTTP 500"

        job = (await org.client.post("/jobs", json={"queue_name": "q", "payload": {}})).json()["id"]
        claim = await org.client.post(
            "/jobs/claim", json={"queue_name": "q", "worker_id": "w", "limit": 1}
        )
        lease = claim.json()["jobs"][0]["lease_id"]
        r = await org.client.post(
            f"/jobs/{job}/complete", json={"worker_id": "w", "lease_id": lease, "result": {"n": 1}}
        )
        assert r.status_code == 200, r.text

        async def failed() -> list[sdk.OutgoingWebhookDelivery]:
            r = await org.client.get(
                f"/outgoing-webhooks/{hook_id}/deliveries", params={"status": "failed"}
            )
            assert r.status_code == 200, r.text
            return [sdk.OutgoingWebhookDelivery.model_validate(x) for x in r.json()]

        import asyncio

        # Slow polling: a free-plan org may make 5 requests a second.
        for _ in range(60):
            got = await failed()
            if got:
                break
            await asyncio.sleep(0.4)
        [d] = got
        assert d.attempts == 2 and d.payload["data"]["job_id"] == job
        retry = sdk.RetryDeliveryResponse.model_validate(
            (await org.client.post(f"/outgoing-webhooks/{hook_id}/retry/{d.id}")).json()
        )
        assert retry.success, retry.message
        last = receiver.received("/gw")[-1]
        assert last.headers["webhook-id"] == d.id and spooled_signature_ok("k", last)


class TestIncoming:
    async def test_custom_token_dedup_and_log(self, stack: Stack, org: Org) -> None:
        token = (await org.client.get("/organizations/webhook-token")).json()["webhook_token"]
        body = {"queue_name": "inbox", "payload": {"a": 1}, "idempotency_key": "order-1"}
        async with _client(stack) as public:
            for headers in ({}, {"X-Webhook-Token": "whk_wrong"}):
                r = await public.post(f"/webhooks/{org.id}/custom", json=body, headers=headers)
                assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
            r = await public.post(
                f"/webhooks/{uuid.uuid4()}/custom", json=body, headers={"X-Webhook-Token": token}
            )
            assert r.status_code == 401
            assert await _count_jobs(stack, org.id) == 0
            first = await public.post(
                f"/webhooks/{org.id}/custom", json=body, headers={"X-Webhook-Token": token}
            )
            again = await public.post(
                f"/webhooks/{org.id}/custom", json=body, headers={"X-Webhook-Token": token}
            )
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "created" and again.json()["status"] == "duplicate"
        assert first.json()["job_id"] == again.json()["job_id"]
        assert await _count_jobs(stack, org.id) == 1
        r = await org.client.get("/webhooks/deliveries", params={"status": "created"})
        [entry] = [sdk.InboundWebhookDelivery.model_validate(x) for x in r.json()]
        assert entry.provider == "custom" and entry.matched_queue == "inbox"

    async def test_github_secret_management_and_signature(self, stack: Stack, org: Org) -> None:
        r = await org.client.put("/webhooks/providers/github", json={"secret": "gh-secret-1"})
        assert r.status_code == 200 and r.json()["configured"]
        providers = {p["provider"]: p for p in (await org.client.get("/webhooks/providers")).json()}
        assert providers["github"]["configured"] and not providers["stripe"]["configured"]
        assert providers["github"]["webhook_url"].endswith(f"/api/v1/webhooks/{org.id}/github")
        # Never echoed, and a settings replacement keeps it.
        r = await org.client.put(f"/organizations/{org.id}", json={"settings": {"theme": "dark"}})
        assert r.status_code == 200 and "github_webhook_secret" not in r.json()["settings"]

        payload = b'{"zen":"Keep it logically awesome."}'
        good = "sha256=" + hmac.new(b"gh-secret-1", payload, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "abc-1",
            "Content-Type": "application/json",
        }
        async with _client(stack) as public:
            r = await public.post(
                f"/webhooks/{org.id}/github",
                content=payload,
                headers={**headers, "X-Hub-Signature-256": good.replace("a", "b", 1)},
            )
            assert r.status_code == 401
            assert await _count_jobs(stack, org.id) == 0
            r = await public.post(
                f"/webhooks/{org.id}/github",
                content=payload,
                headers={**headers, "X-Hub-Signature-256": good},
            )
            assert r.status_code == 200, r.text
            assert r.json()["queue_name"] == "github-ping"
        assert (await org.client.delete("/webhooks/providers/github")).status_code == 204
        async with _client(stack) as public:
            r = await public.post(
                f"/webhooks/{org.id}/github",
                content=payload,
                headers={**headers, "X-Hub-Signature-256": good},
            )
        assert r.status_code == 401

    async def test_unknown_provider_is_404(self, stack: Stack, org: Org) -> None:
        async with _client(stack) as public:
            r = await public.post(f"/webhooks/{org.id}/gitlab", json={})
        assert r.status_code == 404
        r = await org.client.put("/webhooks/providers/custom", json={"secret": "abcdefghij"})
        assert r.status_code == 404


@pytest.fixture
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def receiver_url(receiver: WebhookReceiver) -> str:
    return receiver.url()
