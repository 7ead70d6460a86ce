"""The two reads realtime needs from queue-core's internal gRPC: a job's status, a queue's stats."""

from __future__ import annotations

from typing import Any

from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc


class CoreClient(rpc.InternalClient):
    default_timeout = 5.0

    def __init__(self, addr: str, token: str) -> None:
        super().__init__(addr, token, queue_core_pb2_grpc.QueueCoreStub)

    async def job(self, tenant: Tenant, job_id: str) -> Any | None:
        """The job (None when it does not exist or is outside the key's scope)."""
        try:
            return await self.call(tenant, "GetJob", pb.JobRef(job_id=job_id))
        except errors.NotFound:
            return None

    async def queue_stats(self, tenant: Tenant, queue: str) -> Any:
        return await self.call(tenant, "GetQueueStats", pb.QueueRef(queue_name=queue))
