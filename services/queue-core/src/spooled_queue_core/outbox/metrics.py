"""Prometheus metrics of the outbox relay (served on queue-core's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OUTBOX_LAG = Gauge(
    "spooled_outbox_lag_seconds",
    "Age of the oldest event not yet published to NATS (0 when caught up)",
)
OUTBOX_PENDING = Gauge("spooled_outbox_pending", "Events waiting in core.outbox")
OUTBOX_PUBLISHED = Counter("spooled_outbox_published_total", "Events published to JetStream")
OUTBOX_PUBLISH_FAILURES = Counter(
    "spooled_outbox_publish_failures_total", "Publish attempts that NATS did not acknowledge"
)
OUTBOX_DELETED = Counter("spooled_outbox_deleted_total", "Published events removed by retention")
OUTBOX_LEADER = Gauge("spooled_outbox_relay_leader", "1 while this replica relays the outbox")
