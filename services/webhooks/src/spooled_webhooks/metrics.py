"""Prometheus metrics of the webhooks service (served on /metrics).

Metric objects are process-wide by nature (one registry per process), so they
live at module level. The first two are the names the dashboards and the
``SpooledWebhookFailureRate`` alert read (deploy/grafana, deploy/prometheus).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from spooled_webhooks.endpoints.models import EVENT_TYPES

#: Label value of an event outside the subscribable set (e.g. a test ping).
OTHER_EVENT = "other"
_EVENTS = frozenset(EVENT_TYPES)


def event_label(event: str) -> str:
    """The ``event`` label: a subscribable event type, else ``other`` (bounded)."""
    return event if event in _EVENTS else OTHER_EVENT


#: One per HTTP attempt (endpoint and completion webhooks): delivered (2xx) or
#: failed. ``event`` is the event type, a fixed set (:func:`event_label`).
DELIVERIES = Counter(
    "spooled_webhook_deliveries_total",
    "Outgoing webhook attempts, by outcome and event type",
    ["outcome", "event"],
)
DELIVERY_SECONDS = Histogram(
    "spooled_webhook_delivery_duration_seconds",
    "Time of one outgoing webhook attempt, DNS to response, by event type",
    ["event"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS_CONSUMED = Counter(
    "spooled_webhook_events_consumed_total", "Stream events fanned out into deliveries"
)
DELIVERIES_QUEUED = Counter(
    "spooled_webhook_deliveries_queued_total", "Delivery rows created from stream events"
)
ENDPOINTS_DISABLED = Counter(
    "spooled_webhook_endpoints_disabled_total",
    "Endpoints the service disabled, by reason (gone = 410, failures = sustained)",
    ["reason"],
)
IN_FLIGHT = Gauge("spooled_webhook_deliveries_in_flight", "Attempts being sent right now")
INBOUND = Counter(
    "spooled_webhook_inbound_total",
    "Incoming webhooks, by provider and outcome (created, duplicate, rejected)",
    ["provider", "outcome"],
)
RPC_SECONDS = Histogram(
    "spooled_webhook_rpc_duration_seconds",
    "Internal gRPC handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
