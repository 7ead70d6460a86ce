"""Protobuf messages ↔ schedule fields and rows.

JSON documents cross internal gRPC as raw JSON bytes (empty = null) and are
stored as JSONB; they are checked to be JSON here so a bad document is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from spooled_common import errors, timefmt
from spooled_proto.spooled.internal.v1 import scheduler_pb2 as pb

from spooled_scheduler.schedules import models
from spooled_scheduler.schedules.models import ScheduleFields


def json_doc(raw: bytes, field: str, *, keep_null: bool = False) -> str | None:
    """Raw JSON bytes as JSON text for a JSONB parameter.

    Empty bytes are None (SQL NULL); so is JSON ``null`` unless ``keep_null``
    (a payload template may be a literal null, as upstream's serde Value).
    """
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.ValidationError(f"{field}: must be valid JSON") from exc
    return None if value is None and not keep_null else raw.decode()


def json_bytes(value: Any) -> bytes:
    """A decoded JSONB column as JSON bytes; SQL NULL becomes empty."""
    return b"" if value is None else orjson.dumps(value)


def optional(msg: Any, name: str) -> Any:
    """An optional proto3 field's value, or None when unset."""
    return getattr(msg, name) if msg.HasField(name) else None


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    # Protobuf refuses None for optional scalars; unset is how we say "absent".
    return {k: v for k, v in fields.items() if v is not None}


def fields_from_spec(spec: pb.ScheduleSpec) -> ScheduleFields:
    """A create request's fields, defaults applied for what is unset."""

    def pick(name: str, default: Any) -> Any:
        value = optional(spec, name)
        return default if value is None else value

    return ScheduleFields(
        name=spec.name,
        cron_expression=spec.cron_expression,
        queue_name=spec.queue_name,
        payload_template=json_doc(spec.payload_template, "payload_template", keep_null=True) or "",
        description=optional(spec, "description"),
        timezone=spec.timezone or models.DEFAULT_TIMEZONE,
        priority=pick("priority", models.DEFAULT_PRIORITY),
        max_retries=pick("max_retries", models.DEFAULT_MAX_RETRIES),
        timeout_seconds=pick("timeout_seconds", models.DEFAULT_TIMEOUT_SECS),
        tags=json_doc(spec.tags, "tags"),
        metadata=json_doc(spec.metadata, "metadata"),
        missed_run_policy=pick("missed_run_policy", models.SKIP),
        catch_up_limit=pick("catch_up_limit", models.DEFAULT_CATCH_UP_LIMIT),
        overlap_policy=pick("overlap_policy", models.ALLOW),
    )


_UPDATABLE = (
    "name",
    "description",
    "cron_expression",
    "timezone",
    "priority",
    "max_retries",
    "timeout_seconds",
    "is_active",
    "missed_run_policy",
    "catch_up_limit",
    "overlap_policy",
)
_UPDATABLE_DOCS = ("payload_template", "tags", "metadata")


def changes_from_update(req: pb.UpdateScheduleRequest) -> dict[str, Any]:
    """The fields an update sets (unset = keep). An empty JSON document clears it."""
    changes = {name: getattr(req, name) for name in _UPDATABLE if req.HasField(name)}
    for name in _UPDATABLE_DOCS:
        if req.HasField(name):
            changes[name] = json_doc(getattr(req, name), name, keep_null=name == "payload_template")
    return changes


def schedule(row: Mapping[str, Any]) -> pb.Schedule:
    return pb.Schedule(
        **_present(
            {
                "id": row["id"],
                "organization_id": row["organization_id"],
                "name": row["name"],
                "description": row["description"],
                "cron_expression": row["cron_expression"],
                "timezone": row["timezone"],
                "queue_name": row["queue_name"],
                "payload_template": json_bytes(row["payload_template"]),
                "priority": row["priority"],
                "max_retries": row["max_retries"],
                "timeout_seconds": row["timeout_seconds"],
                "is_active": row["is_active"],
                "last_run_at": timefmt.to_ts(row["last_run_at"]),
                "next_run_at": timefmt.to_ts(row["next_run_at"]),
                "run_count": row["run_count"],
                "tags": json_bytes(row["tags"]),
                "metadata": json_bytes(row["metadata"]),
                "created_at": timefmt.to_ts(row["created_at"]),
                "updated_at": timefmt.to_ts(row["updated_at"]),
                "missed_run_policy": row["missed_run_policy"],
                "catch_up_limit": row["catch_up_limit"],
                "overlap_policy": row["overlap_policy"],
            }
        )
    )


def run(row: Mapping[str, Any]) -> pb.ScheduleRun:
    return pb.ScheduleRun(
        **_present(
            {
                "id": row["id"],
                "schedule_id": row["schedule_id"],
                "job_id": row["job_id"],
                "status": row["status"],
                "error_message": row["error_message"],
                "started_at": timefmt.to_ts(row["started_at"]),
                "completed_at": timefmt.to_ts(row["completed_at"]),
                "scheduled_for": timefmt.to_ts(row["scheduled_for"]),
                "kind": row["kind"],
            }
        )
    )
