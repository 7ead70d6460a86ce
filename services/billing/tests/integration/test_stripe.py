"""Stripe subscription webhooks over real gRPC and Postgres.

Signatures are verified (bad ones refused, nothing recorded), each event id is
applied once (a replay changes nothing, even after the plan moved on), and a
late-arriving older event does not undo a newer one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import orjson
import pytest
from spooled_billing.testing import TEST_STRIPE_SECRET, stripe_header
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb

_seq = iter(range(1, 1_000_000))


def sub_event(
    org: str,
    *,
    kind: str = "customer.subscription.updated",
    status: str = "active",
    price: str = "price_pro_monthly",
    customer: str | None = None,
    created: int | None = None,
    event_id: str | None = None,
) -> bytes:
    n = next(_seq)
    return orjson.dumps(
        {
            "id": event_id or f"evt_{org}_{n}",
            "type": kind,
            "created": created or int(time.time()),
            "data": {
                "object": {
                    "id": f"sub_{org}",
                    "customer": customer or f"cus_{org}",
                    "status": status,
                    "current_period_end": int(time.time()) + 30 * 86400,
                    "cancel_at_period_end": False,
                    "metadata": {"organization_id": org},
                    "items": {"data": [{"price": {"id": price}}]},
                }
            },
        }
    )


async def deliver(client: Any, body: bytes, header: str | None = None) -> Any:
    return await client.call(
        "HandleStripeEvent",
        pb.StripeEventRequest(payload=body, signature=header or stripe_header(body)),
    )


async def tier(client: Any, org: str) -> str:
    return str((await client.call("GetLimits", pb.GetLimitsRequest(), org)).plan_tier)


class TestSignatures:
    @pytest.mark.parametrize(
        "header",
        [
            "",
            "t=1,v1=deadbeef",
            lambda body: stripe_header(body, "whsec_someone_else"),
            lambda body: stripe_header(body, timestamp=int(time.time()) - 301),
        ],
    )
    async def test_bad_signatures_are_refused_and_change_nothing(
        self, client: Any, org: str, header: Any
    ) -> None:
        body = sub_event(org)
        raw = header(body) if callable(header) else header
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await deliver(client, body, raw or "x")
        assert errors.from_rpc_error(info.value).status == 400
        assert await tier(client, org) == "free"
        # The same event, correctly signed, is then processed: the refusal left no trace.
        out = await deliver(client, body)
        assert not out.duplicate and out.org.plan_tier == "pro"

    async def test_tampered_body_is_refused(self, client: Any, org: str) -> None:
        body = sub_event(org)
        header = stripe_header(body)
        with pytest.raises(grpc.aio.AioRpcError):
            await deliver(client, body.replace(b"price_pro_monthly", b"price_enterprise"), header)


class TestDedup:
    async def test_replayed_event_changes_nothing(self, client: Any, org: str) -> None:
        body = sub_event(org)
        first = await deliver(client, body)
        assert (first.duplicate, first.org.plan_tier) == (False, "pro")
        assert first.org.stripe_customer_id == f"cus_{org}"
        assert first.org.stripe_subscription_status == "active"
        # The plan moves on (an admin downgrade), then Stripe replays the old event.
        await client.call("SetOrgPlan", pb.SetOrgPlanRequest(plan_tier="starter"), org)
        again = await deliver(client, body, stripe_header(body))
        assert again.duplicate and again.event_id == first.event_id
        assert again.org.plan_tier == "starter"
        assert await tier(client, org) == "starter"

    async def test_concurrent_redeliveries_apply_once(self, client: Any, org: str) -> None:
        body = sub_event(org)
        outs = await asyncio.gather(*(deliver(client, body) for _ in range(8)))
        assert sorted(o.duplicate for o in outs) == [False] + [True] * 7
        assert all(o.org.plan_tier == "pro" for o in outs)


class TestLifecycle:
    async def test_checkout_then_subscription_by_customer_then_cancel(
        self, client: Any, org: str
    ) -> None:
        checkout = orjson.dumps(
            {
                "id": f"evt_co_{org}",
                "type": "checkout.session.completed",
                "created": int(time.time()),
                "data": {"object": {"client_reference_id": org, "customer": f"cus_x_{org}"}},
            }
        )
        out = await deliver(client, checkout)
        assert out.org.stripe_customer_id == f"cus_x_{org}" and out.org.plan_tier == "free"
        # Subscription events name only the customer.
        body = orjson.loads(sub_event(org, customer=f"cus_x_{org}"))
        body["data"]["object"]["metadata"] = {}
        out = await deliver(client, orjson.dumps(body))
        assert out.org.organization_id == org and out.org.plan_tier == "pro"
        deleted = sub_event(
            org, kind="customer.subscription.deleted", status="canceled", customer=f"cus_x_{org}"
        )
        out = await deliver(client, deleted)
        assert out.org.plan_tier == "free" and out.org.stripe_subscription_status == "canceled"

    async def test_older_event_arriving_late_is_stale(self, client: Any, org: str) -> None:
        now = int(time.time())
        await deliver(client, sub_event(org, created=now))
        late = await deliver(client, sub_event(org, status="canceled", created=now - 60))
        assert not late.duplicate and late.org.plan_tier == "pro"

    async def test_unknown_customer_and_other_events_are_acknowledged(
        self, client: Any, org: str
    ) -> None:
        body = orjson.loads(sub_event(org, customer="cus_nobody"))
        body["data"]["object"]["metadata"] = {}
        out = await deliver(client, orjson.dumps(body))
        assert not out.HasField("org")
        invoice = orjson.dumps(
            {"id": f"evt_inv_{org}", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
        )
        out = await deliver(client, invoice)
        assert out.event_type == "invoice.paid" and not out.HasField("org")


async def test_portal_is_503_when_not_configured(client: Any, org: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.call(
            "CreatePortalSession", pb.PortalSessionRequest(return_url="https://a"), org
        )
    err = errors.from_rpc_error(info.value)
    assert err.status == 503 and "STRIPE_PORTAL_URL" in err.message


def test_secret_constant_is_long_enough() -> None:
    assert len(TEST_STRIPE_SECRET) >= 16
