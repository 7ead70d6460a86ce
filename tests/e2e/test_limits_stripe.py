"""Stripe subscription webhooks through the public gateway (API.md §11.4).

Signed exactly as Stripe signs (``Stripe-Signature: t=…,v1=HMAC-SHA256``):
a bad or stale signature is 400 and changes nothing; a good one changes the
organization's plan (and with it its limits); the same event delivered again
changes nothing, even after the plan moved on in between.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from spooled_testing.stack import Stack

from .conftest import API, Org, expect


def sign(body: bytes, secret: str, ts: int | None = None) -> str:
    t = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(org: Org, event_id: str, *, tier: str = "pro", status: str = "active") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "customer.subscription.updated",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"sub_{org.id}",
                    "customer": f"cus_{org.id}",
                    "status": status,
                    "cancel_at_period_end": False,
                    "current_period_end": int(time.time()) + 30 * 86400,
                    "metadata": {"organization_id": org.id},
                    "items": {"data": [{"price": {"id": "price_x", "lookup_key": tier}}]},
                }
            },
        }
    ).encode()


def deliver(stack: Stack, body: bytes, signature: str) -> httpx.Response:
    return httpx.post(
        f"{stack.base_url}{API}/billing/webhook",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        timeout=30,
    )


def plan_of(org: Org) -> dict[str, Any]:
    return dict(expect(org.http().get(f"/organizations/{org.id}"), 200))


def test_bad_signatures_are_refused_and_change_nothing(stack: Stack, fresh_org: Org) -> None:
    before = plan_of(fresh_org)["plan_tier"]
    body = event(fresh_org, f"evt_bad_{fresh_org.id}", tier="starter")
    for signature in (
        sign(body, "whsec_not_the_secret"),
        sign(body, stack.stripe_secret, ts=int(time.time()) - 600),  # outside 300 s
        sign(body + b" ", stack.stripe_secret),
        "t=1,v1=deadbeef",
        "",
    ):
        r = deliver(stack, body, signature)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "BAD_REQUEST"
    assert plan_of(fresh_org)["plan_tier"] == before


def test_event_changes_the_plan_and_a_replay_changes_nothing(stack: Stack, fresh_org: Org) -> None:
    body = event(fresh_org, f"evt_up_{fresh_org.id}", tier="starter")
    first = deliver(stack, body, sign(body, stack.stripe_secret))
    assert expect(first, 200)["duplicate"] is False
    org = plan_of(fresh_org)
    assert org["plan_tier"] == "starter" and org["stripe_subscription_status"] == "active"
    status = expect(fresh_org.http().get("/billing/status"), 200)
    assert status["plan_tier"] == "starter" and status["has_stripe_customer"] is True
    # The new plan's limits apply: starter allows 5 API keys (the org has 1).
    usage = expect(fresh_org.http().get("/organizations/usage"), 200)
    assert usage["plan"] == "starter" and usage["limits"]["max_api_keys"] == 5

    # The plan moves on (an operator upgrade), then Stripe replays the event.
    r = httpx.patch(
        f"{stack.base_url}{API}/admin/organizations/{fresh_org.id}",
        json={"plan_tier": "enterprise"},
        headers={"X-Admin-Key": stack.admin_key},
        timeout=30,
    )
    expect(r, 200)
    again = deliver(stack, body, sign(body, stack.stripe_secret))
    assert expect(again, 200)["duplicate"] is True
    assert plan_of(fresh_org)["plan_tier"] == "enterprise"


def test_cancellation_drops_to_free(stack: Stack, fresh_org: Org) -> None:
    up = event(fresh_org, f"evt_a_{fresh_org.id}", tier="pro")
    expect(deliver(stack, up, sign(up, stack.stripe_secret)), 200)
    assert plan_of(fresh_org)["plan_tier"] == "pro"
    down = event(fresh_org, f"evt_b_{fresh_org.id}", status="canceled")
    expect(deliver(stack, down, sign(down, stack.stripe_secret)), 200)
    assert plan_of(fresh_org)["plan_tier"] == "free"


def test_portal_is_a_clear_503_without_configuration(fresh_org: Org) -> None:
    r = fresh_org.http().post("/billing/portal", json={"return_url": "https://app.example.com"})
    doc = expect(r, 503, "SERVICE_UNAVAILABLE")
    assert "STRIPE_PORTAL_URL" in doc["message"]
