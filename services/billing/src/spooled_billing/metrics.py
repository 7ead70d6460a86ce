"""Prometheus metrics of the billing service (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RESERVED = Counter("spooled_billing_jobs_reserved_total", "Jobs reserved on daily counters")
REFUNDED = Counter("spooled_billing_jobs_refunded_total", "Reserved jobs given back")
REFUSED = Counter(
    "spooled_billing_quota_refusals_total", "Reservations refused by a plan limit", ["resource"]
)
STRIPE_EVENTS = Counter(
    "spooled_billing_stripe_events_total",
    "Stripe webhook deliveries by outcome",
    ["outcome"],
)
RPC_SECONDS = Histogram(
    "spooled_billing_rpc_duration_seconds",
    "Internal gRPC handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
