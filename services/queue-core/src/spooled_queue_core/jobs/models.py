"""What callers hand the job service, and what bulk creation answers per item."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Every job status (API.md §3.2); the DB CHECK ``jobs_status_valid`` holds the same list.
STATUSES = ("pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled")
MAX_QUEUE_NAME = 255
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to create. None means "use the queue's default"."""

    queue_name: str
    #: JSON text ("null" for an empty document).
    payload: str = "null"
    priority: int = 0
    max_retries: int | None = None
    timeout_seconds: int | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    idempotency_key: str | None = None
    #: JSON text or None.
    tags: str | None = None
    parent_job_id: str | None = None
    completion_webhook: str | None = None
    completion_webhook_secret: str | None = None

    def problem(self) -> str | None:
        """Why the database would refuse this job, in words, or None.

        The gateway validates first; this lets one bad item of a bulk request
        fail alone instead of aborting the whole INSERT on a CHECK constraint.
        """
        checks = (
            (0 < len(self.queue_name) <= MAX_QUEUE_NAME, "queue_name must be 1-255 characters"),
            (-100 <= self.priority <= 100, "priority must be between -100 and 100"),
            (
                self.max_retries is None or 0 <= self.max_retries <= 100,
                "max_retries must be between 0 and 100",
            ),
            (
                self.timeout_seconds is None or 1 <= self.timeout_seconds <= 86400,
                "timeout_seconds must be between 1 and 86400",
            ),
            (
                self.idempotency_key is None
                or 0 < len(self.idempotency_key) <= MAX_IDEMPOTENCY_KEY,
                "idempotency_key must be 1-255 characters",
            ),
        )
        return next((message for ok, message in checks if not ok), None)


@dataclass(frozen=True, slots=True)
class Created:
    """One item's outcome in a (bulk) create."""

    index: int
    job_id: str = ""
    #: False when an existing job with the same idempotency key was returned.
    created: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobFilter:
    queue_name: str | None = None
    statuses: list[str] = field(default_factory=list)
    tag: str | None = None
    #: Substring of id, queue name or idempotency key.
    q: str | None = None
    job_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 50
    offset: int = 0
    order_by: str = "created_at"
    order_dir: str = "desc"
