"""Billing settings, read from the environment (names in the field aliases)."""

from __future__ import annotations

from pydantic import Field
from spooled_common import plans
from spooled_common.settings import ServiceSettings

#: Defaults, named so code, docs and the dev-port table agree.
DEFAULT_GRPC_PORT = 50063
DEFAULT_HTTP_PORT = 8085
#: Stripe's own default: a signature older (or newer) than this is refused.
DEFAULT_STRIPE_TOLERANCE_SECS = 300
#: Days of daily counters kept (monthly views, support questions).
DEFAULT_USAGE_RETENTION_DAYS = 35
#: Dev-only: a signing secret is at least this long in production.
MIN_PRODUCTION_SECRET = 16


class BillingSettings(ServiceSettings):
    grpc_host: str = Field(default="0.0.0.0", alias="BILLING_GRPC_HOST")
    grpc_port: int = Field(default=DEFAULT_GRPC_PORT, alias="BILLING_GRPC_PORT")
    #: /health, /ready and /metrics.
    http_host: str = Field(default="0.0.0.0", alias="BILLING_HTTP_HOST")
    http_port: int = Field(default=DEFAULT_HTTP_PORT, alias="BILLING_HTTP_PORT")

    #: The endpoint secret (``whsec_…``) of the Stripe webhook that sends
    #: subscription events; upstream's name first, the older one as fallback.
    stripe_billing_webhook_secret: str = Field(default="", alias="STRIPE_BILLING_WEBHOOK_SECRET")
    stripe_webhook_secret: str = Field(default="", alias="STRIPE_WEBHOOK_SECRET")
    stripe_tolerance_secs: int = Field(
        default=DEFAULT_STRIPE_TOLERANCE_SECS, alias="STRIPE_WEBHOOK_TOLERANCE_SECS"
    )
    #: Stripe price ids per tier, for subscriptions whose price carries no
    #: ``plan_tier`` metadata or lookup key: ``price_abc`` → starter, etc.
    stripe_price_starter: str = Field(default="", alias="STRIPE_PRICE_STARTER")
    stripe_price_pro: str = Field(default="", alias="STRIPE_PRICE_PRO")
    stripe_price_enterprise: str = Field(default="", alias="STRIPE_PRICE_ENTERPRISE")
    #: The customer portal: no Stripe API is reachable from here, so this is a
    #: Stripe no-code portal login link (https://billing.stripe.com/p/login/…).
    #: Unset: POST /billing/portal answers 503 "not configured".
    stripe_portal_url: str = Field(default="", alias="STRIPE_PORTAL_URL")

    usage_retention_days: int = Field(
        default=DEFAULT_USAGE_RETENTION_DAYS, alias="BILLING_USAGE_RETENTION_DAYS"
    )
    #: How often the retention sweep runs.
    sweep_interval_secs: float = Field(default=3600.0, alias="BILLING_SWEEP_INTERVAL_SECS")
    shutdown_grace_secs: float = Field(default=10.0, alias="BILLING_SHUTDOWN_GRACE_SECS")

    @property
    def webhook_secret(self) -> str:
        return self.stripe_billing_webhook_secret or self.stripe_webhook_secret

    def price_tiers(self) -> dict[str, str]:
        """Configured price id → tier."""
        pairs = {
            self.stripe_price_starter: "starter",
            self.stripe_price_pro: "pro",
            self.stripe_price_enterprise: "enterprise",
        }
        return {price: tier for price, tier in pairs.items() if price}

    def check(self) -> None:
        super().check()
        plans.validate_environment()
        if self.stripe_tolerance_secs < 1:
            raise SystemExit("STRIPE_WEBHOOK_TOLERANCE_SECS must be positive")
        if self.usage_retention_days < 1:
            raise SystemExit("BILLING_USAGE_RETENTION_DAYS must be at least 1")
        secret = self.webhook_secret
        if self.is_production and secret and len(secret) < MIN_PRODUCTION_SECRET:
            raise SystemExit(
                f"STRIPE_BILLING_WEBHOOK_SECRET must be at least {MIN_PRODUCTION_SECRET} "
                "characters in production"
            )
