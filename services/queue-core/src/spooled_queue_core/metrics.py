"""Prometheus metrics of queue-core (served on /metrics).

Metric objects are process-wide by nature (one registry per process), so they
live at module level; names follow API.md §16.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_ENQUEUED = Counter("spooled_jobs_enqueued_total", "Jobs created")
JOBS_CLAIMED = Counter("spooled_jobs_claimed_total", "Jobs handed to workers")
JOBS_COMPLETED = Counter("spooled_jobs_completed_total", "Jobs completed")
JOBS_FAILED = Counter("spooled_jobs_failed_total", "Failure reports from workers")
JOBS_RETRIED = Counter("spooled_jobs_retried_total", "Failures that scheduled a retry")
JOBS_DEADLETTERED = Counter(
    "spooled_jobs_deadlettered_total", "Jobs moved to the dead-letter queue"
)
LEASES_EXPIRED = Counter("spooled_leases_expired_total", "Leases reclaimed by the reaper")
RPC_SECONDS = Histogram(
    "spooled_queue_core_rpc_duration_seconds",
    "Internal gRPC handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUOTA_REFUSALS = Counter(
    "spooled_quota_refusals_total", "Requests refused by a plan limit in queue-core", ["resource"]
)
QUOTA_REFUNDS = Counter(
    "spooled_quota_refunded_jobs_total", "Reserved jobs given back to the daily counter"
)
ORG_DB_WAITS = Counter(
    "spooled_org_db_slot_waits_total",
    "Database acquisitions that queued behind the same organization's own (fairness cap)",
)
