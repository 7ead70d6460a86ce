"""Rows to protobuf messages and raw JSON bytes to SQL parameters.

JSON documents cross internal gRPC as raw bytes (empty = null) and are stored
as JSONB; queries return them as text, so a payload is never parsed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from spooled_common import errors, timefmt
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_queue_core.jobs.models import JobFilter, NewJob
from spooled_queue_core.queues.models import QueueUpdate
from spooled_queue_core.workers.models import NewWorker


def json_param(raw: bytes) -> str | None:
    """Raw JSON bytes from a request as a JSONB parameter (None when empty)."""
    if not raw:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise errors.ValidationError("JSON documents must be UTF-8") from exc


def json_bytes(text: str | None) -> bytes:
    """A JSON column (selected as text) as raw bytes; SQL NULL becomes empty."""
    return text.encode() if text is not None else b""


def ts(dt: datetime | None) -> Timestamp | None:
    if dt is None:
        return None
    out = Timestamp()
    out.FromDatetime(dt)
    return out


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    # Protobuf refuses None for optional scalars; unset is how we say "absent".
    return {k: v for k, v in fields.items() if v is not None}


_JOB_TIMES = (
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "expires_at",
    "lease_expires_at",
    "updated_at",
)
_JOB_PLAIN = (
    "id",
    "organization_id",
    "queue_name",
    "status",
    "retry_count",
    "max_retries",
    "last_error",
    "priority",
    "timeout_seconds",
    "assigned_worker_id",
    "lease_id",
    "idempotency_key",
    "parent_job_id",
    "completion_webhook",
    "workflow_id",
    "dependency_mode",
    "dependencies_met",
)


def job(row: Mapping[str, Any]) -> pb.Job:
    fields = {k: row[k] for k in _JOB_PLAIN}
    fields.update({k: ts(row[k]) for k in _JOB_TIMES})
    fields.update(
        payload=json_bytes(row["payload"]),
        result=json_bytes(row["result"]),
        tags=json_bytes(row["tags"]),
    )
    return pb.Job(**_present(fields))


def job_event(row: Mapping[str, Any]) -> pb.JobEvent:
    return pb.JobEvent(
        **_present(
            {
                "id": row["id"],
                "job_id": row["job_id"],
                "event_type": row["event_type"],
                "worker_id": row["worker_id"],
                "details": json_bytes(row["details"]),
                "created_at": ts(row["created_at"]),
            }
        )
    )


def queue_config(row: Mapping[str, Any]) -> pb.QueueConfig:
    return pb.QueueConfig(
        **_present(
            {
                "id": row["id"],
                "organization_id": row["organization_id"],
                "queue_name": row["queue_name"],
                "max_retries": row["max_retries"],
                "default_timeout": row["default_timeout"],
                "rate_limit": row["rate_limit"],
                "enabled": row["enabled"],
                "settings": json_bytes(row["settings"]),
                "created_at": ts(row["created_at"]),
                "updated_at": ts(row["updated_at"]),
            }
        )
    )


def worker(row: Mapping[str, Any]) -> pb.Worker:
    return pb.Worker(
        **_present(
            {
                "id": row["id"],
                "organization_id": row["organization_id"],
                "queue_name": row["queue_name"],
                "queue_names": list(row["queue_names"] or ()),
                "hostname": row["hostname"],
                "worker_type": row["worker_type"],
                "max_concurrency": row["max_concurrency"],
                "current_jobs": row["current_jobs"],
                "status": row["status"],
                "last_heartbeat": ts(row["last_heartbeat"]),
                "metadata": json_bytes(row["metadata"]),
                "version": row["version"],
                "created_at": ts(row["created_at"]),
                "updated_at": ts(row["updated_at"]),
                "jobs_processed": row["jobs_processed"],
                "jobs_failed": row["jobs_failed"],
            }
        )
    )


# -- requests to domain inputs -------------------------------------------------
def optional(msg: Any, name: str) -> Any:
    """An optional proto3 field's value, or None when unset."""
    return getattr(msg, name) if msg.HasField(name) else None


def _text(msg: Any, name: str) -> str | None:
    # An explicitly empty string means absent too (e.g. idempotency_key "").
    return optional(msg, name) or None


def new_job(spec: pb.JobSpec) -> NewJob:
    return NewJob(
        queue_name=spec.queue_name,
        payload=json_param(spec.payload) or "null",
        priority=spec.priority,
        max_retries=optional(spec, "max_retries"),
        timeout_seconds=optional(spec, "timeout_seconds"),
        scheduled_at=timefmt.from_ts(spec, "scheduled_at"),
        expires_at=timefmt.from_ts(spec, "expires_at"),
        idempotency_key=_text(spec, "idempotency_key"),
        tags=json_param(spec.tags),
        parent_job_id=_text(spec, "parent_job_id"),
        completion_webhook=_text(spec, "completion_webhook"),
        completion_webhook_secret=_text(spec, "completion_webhook_secret"),
    )


def job_filter(req: pb.ListJobsRequest) -> JobFilter:
    return JobFilter(
        queue_name=_text(req, "queue_name"),
        statuses=list(req.statuses),
        tag=_text(req, "tag"),
        q=_text(req, "q"),
        job_type=_text(req, "job_type"),
        created_after=timefmt.from_ts(req, "created_after"),
        created_before=timefmt.from_ts(req, "created_before"),
        limit=req.limit,
        offset=req.offset,
        order_by=req.order_by or "created_at",
        order_dir=req.order_dir or "desc",
    )


def queue_update(req: pb.UpdateQueueConfigRequest) -> QueueUpdate:
    return QueueUpdate(
        max_retries=optional(req, "max_retries"),
        default_timeout=optional(req, "default_timeout"),
        rate_limit=optional(req, "rate_limit"),
        enabled=optional(req, "enabled"),
        settings=json_param(req.settings),
    )


def new_worker(req: pb.RegisterWorkerRequest) -> NewWorker:
    return NewWorker(
        queue_name=req.queue_name,
        hostname=req.hostname,
        worker_id=_text(req, "worker_id"),
        worker_type=_text(req, "worker_type"),
        max_concurrency=req.max_concurrency,
        metadata=json_param(req.metadata),
        version=_text(req, "version"),
    )
