"""Prometheus metrics of the realtime service (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("spooled_realtime_connections", "Open realtime connections", ["kind"])
EVENTS_RECEIVED = Counter("spooled_realtime_events_received_total", "Events read from NATS")
EVENTS_SENT = Counter("spooled_realtime_events_sent_total", "Envelopes sent to clients")
SLOW_CLIENTS = Counter(
    "spooled_realtime_slow_clients_total", "Connections closed because their buffer overflowed"
)
