"""The scheduler's only path to jobs: queue-core's internal gRPC API.

:class:`QueueCorePort` is what the firing loop and the trigger need (enqueue
one job, read one job's status); :class:`QueueCoreClient` implements it over
gRPC with the tenant and internal token in metadata. Unit tests of the firing
logic substitute a recording implementation of the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc

#: Job states in which a previous run still counts as running (overlap_policy=skip).
ACTIVE_JOB_STATUSES = frozenset({"pending", "scheduled", "processing"})


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job to enqueue from a schedule's template."""

    queue_name: str
    #: Raw JSON text of the payload.
    payload: str
    priority: int
    max_retries: int
    timeout_seconds: int
    #: Raw JSON text of the tags, or None.
    tags: str | None
    #: ``sched:<schedule_id>:<tick>``: a tick enqueued twice yields one job.
    idempotency_key: str

    @classmethod
    def from_schedule(cls, row: Mapping[str, Any], idempotency_key: str) -> JobRequest:
        """The job a schedule row's template describes (payload verbatim, as upstream)."""
        tags = row["tags"]
        return cls(
            queue_name=row["queue_name"],
            payload=orjson.dumps(row["payload_template"]).decode(),
            priority=row["priority"],
            max_retries=row["max_retries"],
            timeout_seconds=row["timeout_seconds"],
            tags=None if tags is None else orjson.dumps(tags).decode(),
            idempotency_key=idempotency_key,
        )


def tick_key(schedule_id: str, tick: datetime) -> str:
    """The idempotency key of one cron tick: ``sched:<schedule_id>:<tick ISO, UTC>``.

    Invariant: the same (schedule, tick) always yields the same key, so queue-core
    creates at most one job per tick however many times or replicas fire it.
    Guarded by tests/integration/test_replicas.py.
    """
    return f"sched:{schedule_id}:{tick.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def manual_key(schedule_id: str, run_id: str) -> str:
    """The idempotency key of a manual trigger (unique per trigger)."""
    return f"sched:{schedule_id}:manual:{run_id}"


class QueueCorePort(Protocol):
    async def create_job(self, org_id: str, job: JobRequest) -> str:
        """Enqueue (idempotently); returns the job id. Raises AppError on failure."""
        ...

    async def job_status(self, org_id: str, job_id: str) -> str | None:
        """The job's status, or None when it no longer exists."""
        ...


class QueueCoreClient(rpc.InternalClient):
    """:class:`QueueCorePort` over queue-core's internal gRPC."""

    def __init__(self, addr: str, token: str, *, timeout: float = 5.0) -> None:
        super().__init__(addr, token, queue_core_pb2_grpc.QueueCoreStub, timeout=timeout)

    async def create_job(self, org_id: str, job: JobRequest) -> str:
        spec = pb.JobSpec(
            queue_name=job.queue_name,
            payload=job.payload.encode(),
            priority=job.priority,
            max_retries=job.max_retries,
            timeout_seconds=job.timeout_seconds,
            idempotency_key=job.idempotency_key,
            tags=job.tags.encode() if job.tags is not None else b"",
        )
        reply = await self._call(org_id, "CreateJob", pb.CreateJobRequest(job=spec))
        return str(reply.id)

    async def job_status(self, org_id: str, job_id: str) -> str | None:
        try:
            reply = await self._call(org_id, "GetJob", pb.JobRef(job_id=job_id))
        except errors.NotFound:
            return None
        return str(reply.status)

    async def _call(self, org_id: str, method: str, request: object) -> Any:
        # The schedule's scope was checked when it was written; runs act for the
        # whole organization.
        return await self.call(Tenant(org_id), method, request)
