"""Request and response bodies of ``/jobs`` and ``/jobs/dlq``.

Every field the official SDK (``spooled==1.6.0``) sends is here; anything else
is refused with 400. A few optional fields beyond upstream (per-item options
in bulk, ``wait_ms`` on claim, ``retry`` on fail) map onto queue-core features
and are harmless to clients that never send them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
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
    ResponseModel,
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


# -- responses (API.md §3-§5; rendered by ``convert``) -----------------------------

JobStatus = Literal[
    "pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled"
]


class JobCreated(ResponseModel):
    """``POST /jobs``: ``created`` is false on a repeated ``idempotency_key`` (HTTP 200)."""

    id: str
    created: bool


class BulkJobCreated(ResponseModel):
    index: int
    job_id: str
    created: bool


class BulkJobFailed(ResponseModel):
    index: int
    error: str


class BulkJobsResult(ResponseModel):
    """``POST /jobs/bulk``: per-item outcome, in request order."""

    succeeded: list[BulkJobCreated]
    failed: list[BulkJobFailed]
    total: int
    success_count: int
    failure_count: int


class Job(ResponseModel):
    """The full job (``GET /jobs/{id}``, ``POST /jobs/{id}/retry``)."""

    id: str
    organization_id: str
    queue_name: str
    status: JobStatus
    payload: Any
    result: Any
    retry_count: int
    max_retries: int
    last_error: str | None
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    priority: int
    tags: Any
    timeout_seconds: int
    parent_job_id: str | None
    completion_webhook: str | None
    assigned_worker_id: str | None
    lease_id: str | None
    lease_expires_at: datetime | None
    idempotency_key: str | None
    updated_at: datetime
    workflow_id: str | None
    dependency_mode: Literal["all", "any"]
    dependencies_met: bool


class JobSummary(ResponseModel):
    """A row of ``GET /jobs`` and ``GET /jobs/dlq``; ``attempt`` repeats ``retry_count``
    (newer upstream renamed it, older clients read the old name)."""

    id: str
    queue_name: str
    status: JobStatus
    priority: int
    retry_count: int
    attempt: int
    max_retries: int
    #: ``payload.job_type`` when it is a string, else ``""``.
    job_type: str
    last_error: str | None
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None


class JobStatusRow(ResponseModel):
    """A row of ``GET /jobs/status``."""

    id: str
    status: JobStatus
    queue_name: str
    retry_count: int
    created_at: datetime
    completed_at: datetime | None


class JobStats(ResponseModel):
    """``GET /jobs/stats``: counts per status."""

    pending: int
    scheduled: int
    processing: int
    completed: int
    failed: int
    deadletter: int
    cancelled: int
    total: int


class ClaimedJob(ResponseModel):
    id: str
    queue_name: str
    payload: Any
    retry_count: int
    max_retries: int
    timeout_seconds: int
    lease_expires_at: datetime | None
    lease_id: str | None


class ClaimedJobs(ResponseModel):
    """``POST /jobs/claim``: empty when nothing is ready or the queue is paused."""

    jobs: list[ClaimedJob]


class PriorityChanged(ResponseModel):
    job_id: str
    old_priority: int
    new_priority: int


class JobEvent(ResponseModel):
    """A row of ``GET /jobs/{id}/history``."""

    id: str
    job_id: str
    event_type: str
    worker_id: str | None
    details: Any
    created_at: datetime


class DeadLettersRetried(ResponseModel):
    retried_count: int
    retried_jobs: list[str]
    skipped_jobs: list[str]
    #: ``retried_jobs`` again, under the name older clients read.
    job_ids: list[str]


class DeadLettersPurged(ResponseModel):
    purged_count: int


class Blocker(ResponseModel):
    """One reason a job is not running, shaped like an error body (code first)."""

    code: str
    message: str
    details: dict[str, Any]


class Diagnosis(ResponseModel):
    """``GET /jobs/{id}/diagnose``: ``blocker`` is the first of ``blockers`` (the one to act
    on), null when the job is runnable or finished."""

    job_id: str
    queue_name: str
    status: JobStatus
    runnable: bool
    blocker: Blocker | None
    blockers: list[Blocker]
    checked_at: datetime | None
