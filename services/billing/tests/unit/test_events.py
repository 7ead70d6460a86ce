"""What each Stripe event does to a plan (pure mapping)."""

from __future__ import annotations

from typing import Any

import pytest
from spooled_billing.stripe import events
from spooled_common import errors

PRICES = {"price_pro_monthly": "pro"}


def event(kind: str, obj: dict[str, Any], created: int = 1_800_000_000) -> events.Event:
    return events.parse({"id": "evt_1", "type": kind, "created": created, "data": {"object": obj}})


def subscription(status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "id": "sub_1",
        "customer": "cus_1",
        "status": status,
        "current_period_end": 1_800_086_400,
        "cancel_at_period_end": False,
        "items": {"data": [{"price": {"id": "price_pro_monthly"}}]},
        **extra,
    }


class TestParse:
    @pytest.mark.parametrize(
        "doc", [[], {"id": "evt"}, {"type": "x"}, {"id": "e", "type": "t", "data": {}}]
    )
    def test_not_an_event(self, doc: Any) -> None:
        with pytest.raises(errors.BadRequest):
            events.parse(doc)


class TestSubscription:
    def test_active_takes_the_tier_of_the_configured_price(self) -> None:
        change = events.interpret(event("customer.subscription.updated", subscription()), PRICES)
        assert change is not None
        assert (change.tier, change.customer, change.subscription, change.status) == (
            "pro",
            "cus_1",
            "sub_1",
            "active",
        )
        assert change.period_end is not None and change.cancel_at_period_end is False

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ({"metadata": {"plan_tier": "starter"}}, "starter"),
            (
                {"items": {"data": [{"price": {"id": "p", "lookup_key": "enterprise"}}]}},
                "enterprise",
            ),
            (
                {"items": {"data": [{"price": {"id": "p", "metadata": {"plan_tier": "pro"}}}]}},
                "pro",
            ),
            ({"items": {"data": [{"price": {"id": "price_unknown"}}]}}, None),
        ],
    )
    def test_tier_sources(self, where: dict[str, Any], expected: str | None) -> None:
        change = events.interpret(
            event("customer.subscription.created", subscription(**where)), PRICES
        )
        assert change is not None and change.tier == expected

    @pytest.mark.parametrize(
        ("status", "tier"),
        [
            ("trialing", "pro"),
            ("past_due", None),
            ("incomplete", None),
            ("canceled", "free"),
            ("unpaid", "free"),
            ("incomplete_expired", "free"),
        ],
    )
    def test_status_rules(self, status: str, tier: str | None) -> None:
        change = events.interpret(
            event("customer.subscription.updated", subscription(status)), PRICES
        )
        assert change is not None and change.tier == tier

    def test_deleted_is_free(self) -> None:
        change = events.interpret(event("customer.subscription.deleted", subscription()), PRICES)
        assert change is not None and (change.tier, change.status) == ("free", "active")

    def test_org_from_metadata(self) -> None:
        sub = subscription(metadata={"organization_id": "org-9"})
        change = events.interpret(event("customer.subscription.updated", sub), PRICES)
        assert change is not None and change.org_hint == "org-9"


def test_checkout_links_customer_to_the_org() -> None:
    obj = {"client_reference_id": "org-1", "customer": "cus_1", "subscription": "sub_1"}
    change = events.interpret(event("checkout.session.completed", obj), PRICES)
    assert change is not None
    assert (change.org_hint, change.customer, change.subscription, change.tier) == (
        "org-1",
        "cus_1",
        "sub_1",
        None,
    )


def test_other_events_are_ignored() -> None:
    assert events.interpret(event("invoice.paid", {"id": "in_1"}), PRICES) is None
