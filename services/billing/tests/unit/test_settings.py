"""Billing settings: fail fast on unsafe or malformed values."""

from __future__ import annotations

import pytest
from spooled_billing.settings import BillingSettings


def test_defaults_and_price_map() -> None:
    s = BillingSettings(STRIPE_PRICE_PRO="price_p", STRIPE_WEBHOOK_SECRET="whsec_x")  # type: ignore[call-arg]
    assert (s.grpc_port, s.http_port, s.stripe_tolerance_secs) == (50063, 8085, 300)
    assert s.price_tiers() == {"price_p": "pro"}
    assert s.webhook_secret == "whsec_x"
    s.check()


def test_short_secret_refused_in_production() -> None:
    s = BillingSettings(  # type: ignore[call-arg]
        SPOOLED_ENV="production",
        SPOOLED_INTERNAL_TOKEN="a-real-secret-token",
        STRIPE_BILLING_WEBHOOK_SECRET="short",
    )
    with pytest.raises(SystemExit, match="STRIPE_BILLING_WEBHOOK_SECRET"):
        s.check()


def test_bad_plan_environment_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLED_PLAN_PRO_MAX_QUEUES", "many")
    with pytest.raises(SystemExit, match="SPOOLED_PLAN_PRO_MAX_QUEUES"):
        BillingSettings().check()  # type: ignore[call-arg]
