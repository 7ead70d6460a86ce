"""Request and response bodies of ``/workflows`` and ``/jobs/{id}/dependencies`` (API.md §9, §4).

Shapes only: the graph rules (unique keys, known dependencies, no cycle, at
most 100 jobs) are queue-core's, which refuses a bad workflow whole.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from spooled_gateway.schemas.common import (
    JobId,
    MaxRetries,
    Priority,
    QueueName,
    RequestModel,
    ResponseModel,
    TimeoutSecs,
)
from spooled_gateway.schemas.jobs import JobStatus

_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: Dependencies of one job (upstream: 1..100 ids on POST /jobs/{id}/dependencies).
MAX_DEPENDENCIES = 100


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("key must be 1-100 characters of letters, digits, '_' or '-'")
    return key


def _printable(text: str) -> str:
    if any(ord(ch) < 32 for ch in text):
        raise ValueError("must not contain control characters")
    return text


JobKey = Annotated[str, AfterValidator(_check_key)]
WorkflowName = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable)
]
Description = Annotated[str, StringConstraints(max_length=1000)]
DependencyMode = Literal["all", "any"]


class WorkflowJobBody(RequestModel):
    """One job of ``POST /workflows``; unset options take the queue's defaults."""

    key: JobKey
    queue_name: QueueName
    #: Any JSON (required); serialized size capped by ``max_payload_bytes`` (413).
    payload: Any
    depends_on: Annotated[list[str], Field(max_length=100)] | None = None
    dependency_mode: DependencyMode | None = None
    priority: Priority | None = None
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSecs | None = None
    expires_at: datetime | None = None


class CreateWorkflow(RequestModel):
    """``POST /workflows``: 1..100 jobs keyed by ``key``, edges by ``depends_on``."""

    name: WorkflowName
    description: Description | None = None
    #: Any JSON, stored and returned as is (at most 64 KB).
    metadata: Any = None
    jobs: list[WorkflowJobBody]


class AddDependencies(RequestModel):
    """``POST /jobs/{id}/dependencies``."""

    depends_on: Annotated[list[JobId], Field(min_length=1, max_length=MAX_DEPENDENCIES)]
    dependency_mode: DependencyMode | None = None


# -- responses ---------------------------------------------------------------------


class JobDependency(ResponseModel):
    job_id: str
    queue_name: str
    status: JobStatus


class JobDependencies(ResponseModel):
    """``GET /jobs/{id}/dependencies``."""

    job_id: str
    dependencies: list[JobDependency]
    dependents: list[JobDependency]
    dependency_mode: DependencyMode
    dependencies_met: bool


class DependenciesAdded(ResponseModel):
    """``POST /jobs/{id}/dependencies``."""

    job_id: str
    dependencies_added: int
    dependencies_met: bool


WorkflowStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class WorkflowJobId(ResponseModel):
    key: str
    job_id: str


class WorkflowCreated(ResponseModel):
    """``POST /workflows`` (HTTP 200, not 201, as upstream)."""

    workflow_id: str
    job_ids: list[WorkflowJobId]
    status: WorkflowStatus


class Workflow(ResponseModel):
    """Upstream's ``WorkflowResponse``: list rows, cancel and retry."""

    id: str
    organization_id: str
    name: str
    description: str | None
    status: WorkflowStatus
    total_jobs: int
    completed_jobs: int
    failed_jobs: int
    cancelled_jobs: int
    progress_percent: float
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    metadata: Any


class JobError(ResponseModel):
    type: str
    message: str
    stack: str | None


class WorkflowJob(ResponseModel):
    """A job of ``GET /workflows/{id}``: upstream's ``JobResponse`` naming (``queue``,
    ``attempt``, ``timeout_ms``, tags as ``metadata``), plus ``key`` and ``queue_name``."""

    id: str
    organization_id: str
    key: str | None
    queue: str
    queue_name: str
    job_type: str
    payload: Any
    status: JobStatus
    priority: int
    attempt: int
    max_retries: int
    backoff_type: str
    timeout_ms: int
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    next_retry_at: datetime | None
    result: Any
    error: JobError | None
    metadata: Any
    workflow_id: str | None
    parent_job_id: str | None
    dependency_mode: DependencyMode
    dependencies_met: bool


class WorkflowEdge(ResponseModel):
    parent_job_id: str
    child_job_id: str
    dependency_type: DependencyMode


class WorkflowProgress(ResponseModel):
    """Job counts; ``failed`` includes dead-lettered and cancelled jobs."""

    total: int
    completed: int
    failed: int
    pending: int
    processing: int


class WorkflowDetail(ResponseModel):
    """``GET /workflows/{id}``: the newer upstream detail document."""

    id: str
    organization_id: str
    name: str
    description: str | None
    status: WorkflowStatus
    jobs: list[WorkflowJob]
    dependencies: list[WorkflowEdge]
    progress: WorkflowProgress
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    metadata: Any
