"""Prometheus metrics of queue-core (served on /metrics).

Metric objects are process-wide by nature (one registry per process), so they
live at module level; names follow API.md §16. Per-queue series carry the
``queue`` label through :data:`QUEUE_LABEL`, which bounds how many distinct
values it takes (see :mod:`spooled_queue_core.queue_labels`). The gauges that
only the database knows (pending, processing, DLQ size, oldest job, workers)
come from :mod:`spooled_queue_core.queue_stats`.

The ``observe_*`` helpers are the hot path's only contact with metrics: one
call per claim, completion or failure batch, looping over the rows the
statement returned (cheap: a dict lookup and a lock per row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from spooled_queue_core.queue_labels import QueueLabels

#: The ``queue`` label value of a queue name (bounded; configured at startup).
QUEUE_LABEL = QueueLabels()

JOBS_ENQUEUED = Counter("spooled_jobs_enqueued_total", "Jobs created")
JOBS_CLAIMED = Counter("spooled_jobs_claimed_total", "Jobs handed to workers")
JOBS_COMPLETED = Counter("spooled_jobs_completed_total", "Jobs completed")
JOBS_FAILED = Counter("spooled_jobs_failed_total", "Failure reports from workers")
JOBS_RETRIED = Counter(
    "spooled_jobs_retried_total", "Failures that scheduled a retry, by queue", ["queue"]
)
JOBS_DEADLETTERED = Counter(
    "spooled_jobs_deadlettered_total", "Jobs moved to the dead-letter queue"
)
LEASES_EXPIRED = Counter("spooled_leases_expired_total", "Leases reclaimed by the reaper")
#: Claim to completion of successful jobs. API.md §16's buckets, then a long
#: tail (jobs may run for up to a day).
JOB_DURATION = Histogram(
    "spooled_job_duration_seconds",
    "Processing time of completed jobs (claim to completion), by queue",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
#: Time to start: from when a job could first run (enqueued, or due when
#: scheduled or retrying) to its claim; the dashboard's avg_wait_time_ms.
JOB_WAIT = Histogram(
    "spooled_job_wait_seconds",
    "Time from a job becoming runnable to its claim by a worker, by queue",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
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

Row = Mapping[str, Any]


def observe_claimed(rows: Iterable[Row]) -> None:
    """Claimed jobs (``queue_name``, ``created_at``, ``scheduled_at``, ``started_at``)."""
    n = 0
    for row in rows:
        n += 1
        created, due = row["created_at"], row["scheduled_at"]
        runnable = due if due is not None and due > created else created
        waited = (row["started_at"] - runnable).total_seconds()
        JOB_WAIT.labels(QUEUE_LABEL(row["queue_name"])).observe(max(0.0, waited))
    JOBS_CLAIMED.inc(n)


def observe_completed(rows: Iterable[Row]) -> None:
    """Completed jobs (``queue_name``, ``duration_secs``)."""
    n = 0
    for row in rows:
        n += 1
        JOB_DURATION.labels(QUEUE_LABEL(row["queue_name"])).observe(max(0.0, row["duration_secs"]))
    JOBS_COMPLETED.inc(n)


def observe_failed(rows: Iterable[Row]) -> None:
    """Failure reports (``queue_name``, ``will_retry``): a retry, or a dead letter."""
    n = dead = 0
    for row in rows:
        n += 1
        if row["will_retry"]:
            JOBS_RETRIED.labels(QUEUE_LABEL(row["queue_name"])).inc()
        else:
            dead += 1
    JOBS_FAILED.inc(n)
    JOBS_DEADLETTERED.inc(dead)
