"""Request bodies of ``/jobs`` and ``/jobs/dlq``.

Every field the official SDK (``spooled==1.6.0``) sends is here; anything else
is refused with 400. A few optional fields beyond upstream (per-item options
in bulk, ``wait_ms`` on claim, ``retry`` on fail) map onto queue-core features
and are harmless to clients that never send them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from spooled_gateway.schemas.common import (
    JobId,
    JsonDoc,
    LeaseId,
    LeaseSecs,
    MaxRetries,
    Priority,
    QueueName,
    RequestModel,
    TimeoutSecs,
    WorkerId,
)


def _check_webhook(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("completion_webhook must be an absolute http(s) URL")
    return url


IdempotencyKey = Annotated[str, StringConstraints(max_length=255)]
WebhookUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_check_webhook)
]
Secret = Annotated[str, StringConstraints(max_length=255)]


class CreateJob(RequestModel):
    """``POST /jobs``."""

    queue_name: QueueName
    #: Any JSON (required); serialized size capped by ``max_payload_bytes`` (413).
    payload: Any
    priority: Priority | None = None
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSecs | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    idempotency_key: IdempotencyKey | None = None
    #: A JSON object or array, at most 64 KB serialized.
    tags: JsonDoc = None
    parent_job_id: JobId | None = None
    completion_webhook: WebhookUrl | None = None
    completion_webhook_secret: Secret | None = None


class BulkJobItem(RequestModel):
    """One job of ``POST /jobs/bulk``; unset options take the batch defaults."""

    payload: Any
    priority: Priority | None = None
    idempotency_key: IdempotencyKey | None = None
    scheduled_at: datetime | None = None
    # Not sent by upstream clients; accepted since the batch RPC supports them.
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSecs | None = None
    expires_at: datetime | None = None
    tags: JsonDoc = None


class BulkCreateJobs(RequestModel):
    """``POST /jobs/bulk``: 1..100 jobs for one queue."""

    queue_name: QueueName
    jobs: Annotated[list[BulkJobItem], Field(min_length=1, max_length=100)]
    default_priority: Priority | None = None
    default_max_retries: MaxRetries | None = None
    default_timeout_seconds: TimeoutSecs | None = None


class BoostPriority(RequestModel):
    """``PUT /jobs/{id}/priority``."""

    priority: Priority


class ClaimJobs(RequestModel):
    """``POST /jobs/claim``."""

    queue_name: QueueName
    worker_id: WorkerId
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    lease_duration_secs: LeaseSecs | None = None
    #: Long-poll: wait up to this long for a job when none is ready (extension; 0 = no wait).
    wait_ms: Annotated[int, Field(ge=0, le=30_000)] | None = None


class CompleteJob(RequestModel):
    """``POST /jobs/{id}/complete``."""

    worker_id: WorkerId
    result: Any = None
    lease_id: LeaseId | None = None


class FailJob(RequestModel):
    """``POST /jobs/{id}/fail``."""

    worker_id: WorkerId
    error: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    lease_id: LeaseId | None = None
    #: False dead-letters at once (as gRPC ``Fail(retry=false)``); unset applies the retry policy.
    retry: bool | None = None


class HeartbeatJob(RequestModel):
    """``POST /jobs/{id}/heartbeat``; upstream requires ``lease_duration_secs``, we default it."""

    worker_id: WorkerId
    lease_duration_secs: LeaseSecs | None = None
    lease_id: LeaseId | None = None


class RetryDeadLetters(RequestModel):
    """``POST /jobs/dlq/retry``: ``job_ids`` > ``queue_name`` > every dead letter."""

    job_ids: Annotated[list[JobId], Field(max_length=100)] | None = None
    queue_name: QueueName | None = None
    limit: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _ids_within_limit(self) -> RetryDeadLetters:
        if self.job_ids is not None and self.limit is not None and len(self.job_ids) > self.limit:
            raise ValueError("job_ids may list at most `limit` ids")
        return self


class PurgeDeadLetters(RequestModel):
    """``POST /jobs/dlq/purge``; ``confirm`` must be true (checked by the route, for its message)."""

    queue_name: QueueName | None = None
    older_than: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None
    confirm: bool | None = None
