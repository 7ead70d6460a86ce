"""Response bodies of the outgoing (``/outgoing-webhooks``) and incoming (``/webhooks``)
webhook routes (API.md §10); their request bodies live with the routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from spooled_gateway.schemas.common import ResponseModel

InboundStatus = Literal["created", "duplicate"]


class OutgoingWebhook(ResponseModel):
    """An org-level endpoint; its secret is never returned."""

    id: str
    organization_id: str
    name: str
    url: str
    events: list[str]
    format: Literal["json", "slack", "discord", "teams"]
    enabled: bool
    failure_count: int
    last_triggered_at: datetime | None
    last_status: Literal["success", "failed", "auto_disabled"] | None
    #: Why the service disabled it: ``gone`` after a 410, ``failures`` after a streak.
    disabled_reason: Literal["gone", "failures"] | None
    created_at: datetime
    updated_at: datetime


class WebhookTestResult(ResponseModel):
    """``POST /outgoing-webhooks/{id}/test``."""

    success: bool
    status_code: int | None
    response_time_ms: int
    error: str | None


class WebhookDelivery(ResponseModel):
    """A row of ``GET /outgoing-webhooks/{id}/deliveries``."""

    id: str
    webhook_id: str
    event: str
    #: The envelope as sent.
    payload: Any
    status: Literal["pending", "success", "failed"]
    status_code: int | None
    response_body: str | None
    error: str | None
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None


class DeliveryRetried(ResponseModel):
    """``POST /outgoing-webhooks/{id}/retry/{delivery_id}``."""

    success: bool
    message: str


class WebhookIngested(ResponseModel):
    """``POST /webhooks/{org_id}/{provider}``: a repeated provider event is ``duplicate``."""

    job_id: str
    queue_name: str
    status: InboundStatus


class InboundDelivery(ResponseModel):
    """A row of ``GET /webhooks/deliveries``."""

    id: str
    provider: Literal["custom", "github", "stripe"]
    event_type: str
    matched_queue: str | None
    job_id: str | None
    status: InboundStatus | None
    created_at: datetime


class ProviderStatus(ResponseModel):
    """A provider's ingestion URL and whether its credential is set."""

    provider: Literal["custom", "github", "stripe"]
    configured: bool
    webhook_url: str
