"""Request and response bodies of ``/queues/...``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from spooled_gateway.schemas.common import (
    MaxRetries,
    QueueName,
    RequestModel,
    ResponseModel,
    TimeoutSecs,
)


def _object(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValueError("settings must be a JSON object")
    return value


class UpdateQueueConfig(RequestModel):
    """``PUT /queues/{name}/config``: omitted fields keep their current value."""

    max_retries: MaxRetries | None = None
    default_timeout: TimeoutSecs | None = None
    rate_limit: Annotated[int, Field(ge=1, le=100_000)] | None = None
    enabled: bool | None = None
    #: Merged into the stored settings object; at most 64 KB serialized.
    settings: Annotated[Any, AfterValidator(_object)] = None
    #: Old clients repeat the name in the body (upstream once required it); the path wins.
    queue_name: QueueName | None = None


class PauseQueue(RequestModel):
    """``POST /queues/{name}/pause``: ``{}``, ``{"reason": ...}`` or no body at all."""

    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


# -- responses (API.md §6; rendered by ``convert``) --------------------------------


class QueueSummary(ResponseModel):
    """A row of ``GET /queues``."""

    queue_name: str
    max_retries: int
    default_timeout: int
    rate_limit: int | None
    enabled: bool


class QueueConfig(QueueSummary):
    """``GET /queues/{name}``, ``PUT /queues/{name}/config``."""

    id: str
    organization_id: str
    #: A JSON object (``{}`` when none is stored).
    settings: Any
    created_at: datetime
    updated_at: datetime


class QueueStats(ResponseModel):
    """``GET /queues/{name}/stats``: upstream's fields, then a few more queue-core knows."""

    queue_name: str
    pending_jobs: int
    processing_jobs: int
    completed_jobs_24h: int
    failed_jobs_24h: int
    avg_processing_time_ms: float | None
    max_job_age_seconds: int
    active_workers: int
    scheduled_jobs: int
    deadletter_jobs: int
    paused: bool


class QueuePaused(ResponseModel):
    queue_name: str
    paused: bool
    paused_at: datetime | None
    reason: str | None


class QueueResumed(ResponseModel):
    queue_name: str
    resumed: bool
    paused_duration_secs: int
