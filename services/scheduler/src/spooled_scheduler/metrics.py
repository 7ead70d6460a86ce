"""Prometheus metrics of the scheduler (served on /metrics).

Metric objects are process-wide by nature (one registry per process), so they
live at module level.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Outcomes of cron ticks: fired (job enqueued), failed, skipped (overlap),
#: dropped (missed-run policy), deferred (queue-core unavailable, retried).
TICKS = Counter("spooled_scheduler_ticks_total", "Cron ticks handled, by outcome", ["outcome"])
MANUAL_TRIGGERS = Counter("spooled_scheduler_manual_triggers_total", "Jobs created by trigger")
IS_LEADER = Gauge("spooled_scheduler_is_leader", "1 while this replica holds the firing lease")
PASS_SECONDS = Histogram(
    "spooled_scheduler_pass_duration_seconds",
    "Time of one firing pass",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_SECONDS = Histogram(
    "spooled_scheduler_rpc_duration_seconds",
    "Internal gRPC handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
