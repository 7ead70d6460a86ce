"""The webhooks service's only path to jobs: queue-core's internal gRPC API.

:class:`QueueCorePort` is what incoming webhooks need (enqueue one job,
idempotently); :class:`QueueCoreClient` implements it over gRPC with the
tenant and the internal token in metadata. Unit tests substitute a recording
implementation of the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from spooled_common import rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc

from spooled_webhooks.inbound.jobs import InboundJob


class QueueCorePort(Protocol):
    async def create_job(self, org_id: str, job: InboundJob) -> tuple[str, bool]:
        """Enqueue; returns (job id, created). A repeated idempotency key is (existing id, False)."""
        ...

    async def close(self) -> None: ...


class QueueCoreClient(rpc.InternalClient):
    """:class:`QueueCorePort` over queue-core's internal gRPC."""

    def __init__(self, addr: str, token: str, *, timeout: float = 10.0) -> None:
        super().__init__(addr, token, queue_core_pb2_grpc.QueueCoreStub, timeout=timeout)

    async def create_job(self, org_id: str, job: InboundJob) -> tuple[str, bool]:
        spec = pb.JobSpec(
            queue_name=job.queue_name,
            payload=job.payload,
            priority=job.priority,
            idempotency_key=job.idempotency_key,
        )
        # The webhook was authenticated for the organization as a whole.
        reply = await self.call(Tenant(org_id), "CreateJob", pb.CreateJobRequest(job=spec))
        return str(reply.id), bool(reply.created)
