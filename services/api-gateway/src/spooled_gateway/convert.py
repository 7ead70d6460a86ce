"""queue-core messages → the upstream JSON shapes (API.md §3-§7), plus the JSON response.

The OpenAPI document states these shapes with the ``ResponseModel`` classes in
``schemas/``, which nothing validates at runtime: a field changed here must change there
too (tests/e2e/test_openapi_bodies.py and the fuzz test catch a mismatch).

Speed notes, since every job response passes through here:

* JSON documents (payload, result, tags, settings, metadata) arrive as JSON
  bytes and are embedded with ``orjson.Fragment``: never decoded and re-encoded.
  The one exception is ``job_type`` in summaries, read from the payload only
  when the bytes mention it.
* Timestamps are formatted from seconds/nanos directly (RFC 3339, microseconds,
  ``Z``: the upstream chrono format), not through ``datetime``.
* :func:`json_response` renders with orjson into a plain ``Response``:
  FastAPI's ``jsonable_encoder`` walk is skipped and ``ORJSONResponse`` is
  deprecated (it warns on every instantiation) in the FastAPI we run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

#: Pre-rendered body of complete/fail/heartbeat.
SUCCESS = b'{"success":true}'


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status_code, headers, "application/json")


def raw_json_response(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code, None, "application/json")


def has_more_headers(has_more: bool) -> dict[str, str]:
    """``X-Has-More`` on paged lists (the SDK's ``Page.has_more``)."""
    return {"X-Has-More": "true" if has_more else "false"}


def iso(seconds: int, nanos: int) -> str:
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nanos // 1000:06d}Z"
    )


def ts(msg: Any, field: str) -> str | None:
    """An optional Timestamp field as RFC 3339, or None when unset."""
    if not msg.HasField(field):
        return None
    t = getattr(msg, field)
    return iso(t.seconds, t.nanos)


def opt(msg: Any, field: str) -> Any:
    """A proto3 ``optional`` scalar, or None when unset."""
    return getattr(msg, field) if msg.HasField(field) else None


def doc(raw: bytes) -> orjson.Fragment | None:
    """Embed a JSON document as-is (empty bytes = JSON null)."""
    return orjson.Fragment(raw) if raw else None


def job_type(payload: bytes) -> str:
    """``payload.job_type`` when it is a string, else ``""`` (upstream JobSummary)."""
    if b'"job_type"' not in payload:
        return ""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ""
    found = value.get("job_type") if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


# -- jobs ------------------------------------------------------------------


def job(j: pb.Job) -> dict[str, Any]:
    """The full Job (GET /jobs/{id}, POST /jobs/{id}/retry)."""
    return {
        "id": j.id,
        "organization_id": j.organization_id,
        "queue_name": j.queue_name,
        "status": j.status,
        "payload": doc(j.payload),
        "result": doc(j.result),
        "retry_count": j.retry_count,
        "max_retries": j.max_retries,
        "last_error": opt(j, "last_error"),
        "created_at": ts(j, "created_at"),
        "scheduled_at": ts(j, "scheduled_at"),
        "started_at": ts(j, "started_at"),
        "completed_at": ts(j, "completed_at"),
        "expires_at": ts(j, "expires_at"),
        "priority": j.priority,
        "tags": doc(j.tags),
        "timeout_seconds": j.timeout_seconds,
        "parent_job_id": opt(j, "parent_job_id"),
        "completion_webhook": opt(j, "completion_webhook"),
        "assigned_worker_id": opt(j, "assigned_worker_id"),
        "lease_id": opt(j, "lease_id"),
        "lease_expires_at": ts(j, "lease_expires_at"),
        "idempotency_key": opt(j, "idempotency_key"),
        "updated_at": ts(j, "updated_at"),
        "workflow_id": opt(j, "workflow_id"),
        "dependency_mode": j.dependency_mode or "all",
        "dependencies_met": j.dependencies_met,
    }


def job_summary(j: pb.Job) -> dict[str, Any]:
    """A list row: both ``retry_count`` (old servers, SDK) and ``attempt`` (newer servers)."""
    return {
        "id": j.id,
        "queue_name": j.queue_name,
        "status": j.status,
        "priority": j.priority,
        "retry_count": j.retry_count,
        "attempt": j.retry_count,
        "max_retries": j.max_retries,
        "job_type": job_type(j.payload),
        "last_error": opt(j, "last_error"),
        "created_at": ts(j, "created_at"),
        "scheduled_at": ts(j, "scheduled_at"),
        "started_at": ts(j, "started_at"),
        "completed_at": ts(j, "completed_at"),
    }


def job_status(j: pb.Job) -> dict[str, Any]:
    """A row of GET /jobs/status."""
    return {
        "id": j.id,
        "status": j.status,
        "queue_name": j.queue_name,
        "retry_count": j.retry_count,
        "created_at": ts(j, "created_at"),
        "completed_at": ts(j, "completed_at"),
    }


def claimed_job(j: pb.Job) -> dict[str, Any]:
    """A job handed to a worker by POST /jobs/claim."""
    return {
        "id": j.id,
        "queue_name": j.queue_name,
        "payload": doc(j.payload),
        "retry_count": j.retry_count,
        "max_retries": j.max_retries,
        "timeout_seconds": j.timeout_seconds,
        "lease_expires_at": ts(j, "lease_expires_at"),
        "lease_id": opt(j, "lease_id"),
    }


def job_event(e: pb.JobEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "job_id": e.job_id,
        "event_type": e.event_type,
        "worker_id": opt(e, "worker_id"),
        "details": doc(e.details),
        "created_at": ts(e, "created_at"),
    }


_STATS_FIELDS = (
    "pending",
    "scheduled",
    "processing",
    "completed",
    "failed",
    "deadletter",
    "cancelled",
    "total",
)


def job_stats(s: pb.JobStats) -> dict[str, int]:
    return {name: getattr(s, name) for name in _STATS_FIELDS}


def bulk_result(results: Any, total: int) -> dict[str, Any]:
    """POST /jobs/bulk: items split by outcome, in request order."""
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for r in results:
        if r.HasField("error"):
            failed.append({"index": r.index, "error": r.error or "Failed to create job"})
        else:
            succeeded.append({"index": r.index, "job_id": r.job_id, "created": r.created})
    return {
        "succeeded": succeeded,
        "failed": failed,
        "total": total,
        "success_count": len(succeeded),
        "failure_count": len(failed),
    }


# -- queues ----------------------------------------------------------------


def queue_summary(q: pb.QueueConfig) -> dict[str, Any]:
    return {
        "queue_name": q.queue_name,
        "max_retries": q.max_retries,
        "default_timeout": q.default_timeout,
        "rate_limit": opt(q, "rate_limit"),
        "enabled": q.enabled,
    }


def queue_config(q: pb.QueueConfig) -> dict[str, Any]:
    return {
        "id": q.id,
        "organization_id": q.organization_id,
        "queue_name": q.queue_name,
        "max_retries": q.max_retries,
        "default_timeout": q.default_timeout,
        "rate_limit": opt(q, "rate_limit"),
        "enabled": q.enabled,
        "settings": doc(q.settings) or {},
        "created_at": ts(q, "created_at"),
        "updated_at": ts(q, "updated_at"),
    }


def queue_stats(s: pb.QueueStats) -> dict[str, Any]:
    """The upstream stats fields, then a few more queue-core knows (ignored by the SDK)."""
    return {
        "queue_name": s.queue_name,
        "pending_jobs": s.pending,
        "processing_jobs": s.processing,
        "completed_jobs_24h": s.completed_24h,
        "failed_jobs_24h": s.failed_24h,
        "avg_processing_time_ms": opt(s, "avg_processing_time_ms"),
        "max_job_age_seconds": s.max_age_ms // 1000,
        "active_workers": s.active_workers,
        "scheduled_jobs": s.scheduled,
        "deadletter_jobs": s.deadletter,
        "paused": s.paused,
    }


def queue_paused(r: pb.PauseQueueResponse) -> dict[str, Any]:
    return {
        "queue_name": r.queue_name,
        "paused": True,
        "paused_at": ts(r, "paused_at"),
        "reason": opt(r, "reason"),
    }


def queue_resumed(r: pb.ResumeQueueResponse) -> dict[str, Any]:
    return {
        "queue_name": r.queue_name,
        "resumed": True,
        "paused_duration_secs": r.paused_duration_secs,
    }


# -- workers ---------------------------------------------------------------


def worker_summary(w: pb.Worker) -> dict[str, Any]:
    return {
        "id": w.id,
        "queue_name": w.queue_name,
        "hostname": w.hostname,
        "status": w.status,
        "current_jobs": w.current_jobs,
        "max_concurrency": w.max_concurrency,
        "last_heartbeat": ts(w, "last_heartbeat"),
        "jobs_processed": w.jobs_processed,
        "jobs_failed": w.jobs_failed,
    }


def worker(w: pb.Worker) -> dict[str, Any]:
    """GET /workers/{id}: upstream names ``max_concurrent_jobs``/``current_job_count`` here."""
    return {
        "id": w.id,
        "organization_id": w.organization_id,
        "queue_name": w.queue_name,
        "queue_names": list(w.queue_names) or [w.queue_name],
        "hostname": w.hostname,
        "worker_type": opt(w, "worker_type"),
        "max_concurrent_jobs": w.max_concurrency,
        "current_job_count": w.current_jobs,
        "status": w.status,
        "last_heartbeat": ts(w, "last_heartbeat"),
        "metadata": doc(w.metadata) or {},
        "version": opt(w, "version"),
        "created_at": ts(w, "created_at"),
        "updated_at": ts(w, "updated_at"),
        "jobs_processed": w.jobs_processed,
        "jobs_failed": w.jobs_failed,
    }


def worker_registered(
    r: pb.RegisterWorkerResponse, lease_secs: int, heartbeat_secs: int
) -> dict[str, Any]:
    """POST /workers/register; queue-core's intervals win, the gateway's settings fill in."""
    return {
        "id": r.worker.id,
        "queue_name": r.worker.queue_name,
        "lease_duration_secs": r.lease_duration_secs or lease_secs,
        "heartbeat_interval_secs": r.heartbeat_interval_secs or heartbeat_secs,
    }
