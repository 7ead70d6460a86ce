"""The two reads realtime needs from queue-core's internal gRPC: a job's status, a queue's stats."""

from __future__ import annotations

from typing import Any

import grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc

TIMEOUT_S = 5.0


class CoreClient:
    def __init__(self, addr: str, token: str) -> None:
        self._channel = rpc.internal_channel(addr)
        self._stub = queue_core_pb2_grpc.QueueCoreStub(self._channel)
        self._token = token

    async def _call(self, tenant: Tenant, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(
                request, metadata=rpc.call_metadata(self._token, tenant), timeout=TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def job(self, tenant: Tenant, job_id: str) -> Any | None:
        """The job (None when it does not exist or is outside the key's scope)."""
        try:
            return await self._call(tenant, "GetJob", pb.JobRef(job_id=job_id))
        except errors.NotFound:
            return None

    async def queue_stats(self, tenant: Tenant, queue: str) -> Any:
        return await self._call(tenant, "GetQueueStats", pb.QueueRef(queue_name=queue))

    async def close(self) -> None:
        await self._channel.close()
