"""Request and response bodies of ``/workers/...``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from spooled_gateway.schemas.common import QueueName, RequestModel, ResponseModel

#: Statuses a worker may report; anything else is recorded as ``healthy`` (upstream).
WORKER_STATUSES = frozenset({"healthy", "degraded", "draining", "offline"})

Hostname = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$"
    ),
]
ClientWorkerId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
]
ShortText = Annotated[str, StringConstraints(max_length=50)]


class RegisterWorker(RequestModel):
    """``POST /workers/register`` (the SDK worker sends every field)."""

    queue_name: QueueName
    hostname: Hostname
    #: A stable id makes registration an upsert; omitted, queue-core mints one.
    worker_id: ClientWorkerId | None = None
    worker_type: ShortText | None = None
    max_concurrency: Annotated[int, Field(ge=1, le=100)] | None = None
    #: Any JSON, at most 64 KB serialized.
    metadata: Any = None
    version: ShortText | None = None


class WorkerHeartbeat(RequestModel):
    """``POST /workers/{id}/heartbeat``: the SDK sends ``{"current_jobs", "status"}``."""

    current_jobs: Annotated[int, Field(ge=0, le=1000)]
    status: str | None = None
    metadata: Any = None

    @property
    def normalized_status(self) -> str:
        return self.status if self.status in WORKER_STATUSES else "healthy"


# -- responses (API.md §7; rendered by ``convert``) --------------------------------

WorkerStatus = Literal["healthy", "degraded", "draining", "offline"]


class WorkerRegistered(ResponseModel):
    """``POST /workers/register``: the id to use and the intervals to keep."""

    id: str
    queue_name: str
    lease_duration_secs: int
    heartbeat_interval_secs: int


class WorkerSummary(ResponseModel):
    """A row of ``GET /workers``."""

    id: str
    queue_name: str
    hostname: str
    status: WorkerStatus
    current_jobs: int
    max_concurrency: int
    last_heartbeat: datetime | None
    jobs_processed: int
    jobs_failed: int


class Worker(ResponseModel):
    """``GET /workers/{id}``: upstream names the counters differently here than in lists."""

    id: str
    organization_id: str
    queue_name: str
    queue_names: list[str]
    hostname: str
    worker_type: str | None
    max_concurrent_jobs: int
    current_job_count: int
    status: WorkerStatus
    last_heartbeat: datetime | None
    metadata: Any
    version: str | None
    created_at: datetime
    updated_at: datetime
    jobs_processed: int
    jobs_failed: int
