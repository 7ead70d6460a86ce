"""Request bodies of ``/workflows`` and ``/jobs/{id}/dependencies`` (API.md §9, §4).

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
