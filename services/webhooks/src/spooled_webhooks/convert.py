"""Rows → protobuf messages of ``spooled.internal.v1.Webhooks`` (and request fields back)."""

from __future__ import annotations

from typing import Any

import asyncpg
from spooled_common import timefmt
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb

from spooled_webhooks.endpoints.models import EndpointFields


def optional(msg: Any, field: str) -> Any:
    """A proto3 ``optional`` field, or None when unset."""
    return getattr(msg, field) if msg.HasField(field) else None


def webhook(row: asyncpg.Record) -> pb.OutgoingWebhook:
    return pb.OutgoingWebhook(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        url=row["url"],
        events=list(row["events"]),
        format=row["format"],
        enabled=row["enabled"],
        failure_count=row["failure_count"],
        last_triggered_at=timefmt.to_ts(row["last_triggered_at"]),
        last_status=row["last_status"],
        created_at=timefmt.to_ts(row["created_at"]),
        updated_at=timefmt.to_ts(row["updated_at"]),
        disabled_reason=row["disabled_reason"],
        has_secret=row["secret"] is not None,
    )


def fields_from_create(req: pb.CreateWebhookRequest) -> EndpointFields:
    return EndpointFields(
        name=req.name,
        url=req.url,
        events=tuple(req.events),
        secret=optional(req, "secret"),
        enabled=req.enabled,
        format=req.format or "json",
    )


def changes_from_update(req: pb.UpdateWebhookRequest) -> dict[str, Any]:
    """Only what the caller set; ``secret: None`` means clear it."""
    changes: dict[str, Any] = {
        name: optional(req, name)
        for name in ("name", "url", "enabled", "format")
        if req.HasField(name)
    }
    if req.set_events:
        changes["events"] = tuple(req.events)
    if req.clear_secret:
        changes["secret"] = None
    elif req.HasField("secret"):
        changes["secret"] = req.secret
    return changes


def delivery(row: asyncpg.Record) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event=row["event"],
        payload=row["payload"].encode(),
        status=row["status"],
        status_code=row["status_code"],
        response_body=row["response_body"],
        error=row["error"],
        attempts=row["attempts"],
        created_at=timefmt.to_ts(row["created_at"]),
        delivered_at=timefmt.to_ts(row["delivered_at"]),
        next_attempt_at=(
            timefmt.to_ts(row["next_attempt_at"]) if row["status"] == "pending" else None
        ),
    )


def inbound(row: asyncpg.Record) -> pb.InboundDelivery:
    return pb.InboundDelivery(
        id=row["id"],
        provider=row["provider"],
        event_type=row["event_type"],
        matched_queue=row["matched_queue"],
        job_id=row["job_id"],
        status=row["status"],
        created_at=timefmt.to_ts(row["created_at"]),
    )
