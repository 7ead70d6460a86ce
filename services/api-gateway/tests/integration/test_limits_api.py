"""Plans, rate limits and billing at the gateway, with real API keys and a real billing service.

* every /api/v1 answer carries X-RateLimit-Limit/Remaining/Reset/Scope;
* an API key past its plan's burst gets 429 RATE_LIMIT_EXCEEDED with Retry-After;
* unauthenticated calls are limited per client IP;
* one organization's concurrent requests queue behind each other, not others';
* admin plan changes and Stripe events go to billing first, then to the org's row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import orjson
import pytest
from spooled_billing.testing import stripe_header
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc as pb_grpc

API = "/api/v1"
ADMIN = {"X-Admin-Key": "test-admin-key-0123456789abcdef"}  # conftest.TEST_ADMIN_KEY


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_org(client: httpx.AsyncClient) -> tuple[str, str]:
    slug = f"limits-{uuid.uuid4().hex[:10]}"
    r = await client.post(f"{API}/organizations", json={"name": "Limits Co", "slug": slug})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["organization"]["id"], body["api_key"]["key"]


class TestHeaders:
    async def test_authenticated_and_public_answers_carry_rate_headers(
        self, gateway: httpx.AsyncClient
    ) -> None:
        _, key = await new_org(gateway)
        r = await gateway.get(f"{API}/api-keys", headers=bearer(key))
        assert r.status_code == 200
        assert r.headers["x-ratelimit-scope"] == "api_key"
        assert int(r.headers["x-ratelimit-limit"]) == 100_000  # the lifted free tier
        assert int(r.headers["x-ratelimit-reset"]) >= int(time.time())
        pub = await gateway.get(f"{API}/organizations/check-slug", params={"slug": "abc-free"})
        assert pub.headers["x-ratelimit-scope"] == "ip"
        assert pub.headers["x-ratelimit-limit"] == "200"  # RATE_LIMIT_BURST_SIZE default
        # Errors carry them too, and probes never.
        bad = await gateway.get(f"{API}/api-keys/nope", headers=bearer(key))
        assert bad.status_code == 404 and "x-ratelimit-remaining" in bad.headers
        assert "x-ratelimit-limit" not in (await gateway.get("/health")).headers
        # A key that does not authenticate is charged to the caller's IP.
        guess = await gateway.get(f"{API}/api-keys", headers=bearer("sp_test_" + "x" * 43))
        assert guess.status_code == 401 and guess.headers["x-ratelimit-scope"] == "ip"


class TestPlanRateLimit:
    async def test_burst_then_429_with_retry_after(
        self, gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SPOOLED_PLAN_FREE_RATE_LIMIT_RPS", "1")
        monkeypatch.setenv("SPOOLED_PLAN_FREE_RATE_LIMIT_BURST", "3")
        _, key = await new_org(gateway)
        codes = [
            (await gateway.get(f"{API}/api-keys", headers=bearer(key))).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = await gateway.get(f"{API}/api-keys", headers=bearer(key))
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-limit"] == "3"
        body = r.json()
        assert body["code"] == "RATE_LIMIT_EXCEEDED" and body["retry_after_secs"] == 1
        assert body["details"] == {"retry_after_seconds": 1}
        # Another key has its own bucket.
        _, other = await new_org(gateway)
        assert (await gateway.get(f"{API}/api-keys", headers=bearer(other))).status_code == 200
        # The bucket refills at the plan's rate.
        await asyncio.sleep(1.1)
        assert (await gateway.get(f"{API}/api-keys", headers=bearer(key))).status_code == 200

    async def test_a_keys_own_rate_limit_applies_too(self, gateway: httpx.AsyncClient) -> None:
        _, key = await new_org(gateway)
        made = await gateway.post(
            f"{API}/api-keys", headers=bearer(key), json={"name": "slow", "rate_limit": 2}
        )
        slow = made.json()["key"]
        codes = [
            (await gateway.get(f"{API}/api-keys", headers=bearer(slow))).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]

    async def test_public_calls_are_limited_per_ip(
        self, gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any
    ) -> None:
        settings = make_gateway_settings(
            gateway_dsn, RATE_LIMIT_REQUESTS_PER_SECOND=0.5, RATE_LIMIT_BURST_SIZE=2
        )
        path = f"{API}/organizations/check-slug?slug=some-slug"
        async with make_gateway_client(settings, client_ip="10.1.1.1") as gw:
            codes = [(await gw.get(path)).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            other_ip = httpx.ASGITransport(app=gw.app, client=("10.1.1.2", 40_000))  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=other_ip, base_url="http://gateway") as c2:
                assert (await c2.get(path)).status_code == 200


class SlowCore(pb_grpc.QueueCoreServicer):
    """A queue-core whose GetUsage takes half a second (holds requests in flight)."""

    async def GetUsage(self, request: pb.UsageRequest, context: Any) -> pb.Usage:
        await asyncio.sleep(0.5)
        return pb.Usage()


@pytest.fixture
async def slow_core() -> AsyncIterator[str]:
    server = grpc.aio.server()
    pb_grpc.add_QueueCoreServicer_to_server(SlowCore(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


class TestConcurrency:
    async def test_one_org_waits_behind_itself_not_others(
        self,
        gateway_dsn: str,
        make_gateway_settings: Any,
        make_gateway_client: Any,
        slow_core: str,
    ) -> None:
        settings = make_gateway_settings(
            gateway_dsn,
            QUEUE_CORE_ADDR=slow_core,
            SPOOLED_ORG_MAX_INFLIGHT=1,
            SPOOLED_ORG_INFLIGHT_WAIT_SECS=0.2,
        )
        async with make_gateway_client(settings) as gw:
            _, busy = await new_org(gw)
            _, calm = await new_org(gw)

            async def usage(key: str) -> httpx.Response:
                return await gw.get(f"{API}/organizations/usage", headers=bearer(key))

            answers = await asyncio.gather(usage(busy), usage(busy), usage(calm))
            # One of busy's two waited past 0.2 s and was refused; calm never waited.
            assert sorted(a.status_code for a in answers[:2]) == [200, 429]
            assert answers[2].status_code == 200
            refused = next(a for a in answers[:2] if a.status_code == 429)
            assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED"
            assert refused.headers["retry-after"] == "1"


def subscription_event(org_id: str, event_id: str, price_tier: str = "pro") -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": "customer.subscription.updated",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"sub_{org_id}",
                    "customer": f"cus_{org_id}",
                    "status": "active",
                    "current_period_end": int(time.time()) + 86400,
                    "metadata": {"organization_id": org_id, "plan_tier": price_tier},
                }
            },
        }
    )


class TestBilling:
    async def test_stripe_webhook_changes_the_plan_once(self, gateway: httpx.AsyncClient) -> None:
        org_id, key = await new_org(gateway)
        body = subscription_event(org_id, f"evt_{org_id}")

        bad = await gateway.post(
            f"{API}/billing/webhook",
            content=body,
            headers={"Stripe-Signature": stripe_header(body, "whsec_wrong_secret_123")},
        )
        assert bad.status_code == 400, bad.text
        got = await gateway.get(f"{API}/organizations/{org_id}", headers=bearer(key))
        assert got.json()["plan_tier"] == "free"

        ok = await gateway.post(
            f"{API}/billing/webhook",
            content=body,
            headers={"Stripe-Signature": stripe_header(body)},
        )
        assert ok.status_code == 200 and ok.json()["duplicate"] is False
        org = (await gateway.get(f"{API}/organizations/{org_id}", headers=bearer(key))).json()
        assert org["plan_tier"] == "pro" and org["stripe_subscription_status"] == "active"
        status = (await gateway.get(f"{API}/billing/status", headers=bearer(key))).json()
        assert status["plan_tier"] == "pro" and status["has_stripe_customer"] is True

        # An admin downgrade, then Stripe replays the old event: nothing changes.
        r = await gateway.patch(
            f"{API}/admin/organizations/{org_id}", headers=ADMIN, json={"plan_tier": "starter"}
        )
        assert r.status_code == 200 and r.json()["plan_tier"] == "starter"
        replay = await gateway.post(
            f"{API}/billing/webhook",
            content=body,
            headers={"Stripe-Signature": stripe_header(body)},
        )
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
        org = (await gateway.get(f"{API}/organizations/{org_id}", headers=bearer(key))).json()
        assert org["plan_tier"] == "starter"

    async def test_admin_plan_goes_to_billing_and_limits_follow(
        self, gateway: httpx.AsyncClient
    ) -> None:
        org_id, key = await new_org(gateway)
        r = await gateway.patch(
            f"{API}/admin/organizations/{org_id}",
            headers=ADMIN,
            json={"plan_tier": "pro", "custom_limits": {"max_api_keys": 1}},
        )
        assert r.status_code == 200
        assert (r.json()["plan_tier"], r.json()["custom_limits"]) == ("pro", {"max_api_keys": 1})
        status = (await gateway.get(f"{API}/billing/status", headers=bearer(key))).json()
        assert status["plan_tier"] == "pro"
        # The key cap follows at once (the auth cache was cleared).
        made = await gateway.post(f"{API}/api-keys", headers=bearer(key), json={"name": "two"})
        assert made.status_code == 429 and made.json()["resource"] == "api_keys"
        bad = await gateway.patch(
            f"{API}/admin/organizations/{org_id}",
            headers=ADMIN,
            json={"custom_limits": {"max_api_keys": -3}},
        )
        assert bad.status_code == 400
        usage = await gateway.post(f"{API}/admin/organizations/{org_id}/reset-usage", headers=ADMIN)
        assert usage.status_code == 204

    async def test_admin_create_with_a_plan(self, gateway: httpx.AsyncClient) -> None:
        r = await gateway.post(
            f"{API}/admin/organizations",
            headers=ADMIN,
            json={"name": "Big Co", "slug": "big-co-plan", "plan_tier": "enterprise"},
        )
        assert r.status_code == 201
        key = r.json()["api_key"]["key"]
        status = (await gateway.get(f"{API}/billing/status", headers=bearer(key))).json()
        assert status["plan_tier"] == "enterprise"

    async def test_portal_without_configuration_is_503(self, gateway: httpx.AsyncClient) -> None:
        _, key = await new_org(gateway)
        r = await gateway.post(
            f"{API}/billing/portal", headers=bearer(key), json={"return_url": "https://app.test"}
        )
        assert r.status_code == 503 and "STRIPE_PORTAL_URL" in r.json()["message"]
