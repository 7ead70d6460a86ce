"""Request bodies of ``/workers/...``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from spooled_gateway.schemas.common import QueueName, RequestModel

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
