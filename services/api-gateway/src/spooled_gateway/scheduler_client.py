"""The gateway's path to schedules: the scheduler's internal gRPC API.

``await scheduler.call(tenant, "CreateSchedule", request)`` runs the RPC with
the tenant and internal token in metadata and turns a failed call back into
the AppError the scheduler raised (a scheduler that is down is a 503).
"""

from __future__ import annotations

from typing import Any

import grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import scheduler_pb2_grpc

#: Schedule calls are small; a trigger includes one queue-core enqueue.
DEFAULT_TIMEOUT_S = 15.0


class SchedulerClient:
    def __init__(self, addr: str, token: str) -> None:
        self._channel = grpc.aio.insecure_channel(addr, options=rpc.CHANNEL_OPTIONS)
        self.stub = scheduler_pb2_grpc.SchedulerStub(self._channel)
        self._token = token

    async def call(
        self, tenant: Tenant, method: str, request: Any, *, timeout: float | None = None
    ) -> Any:
        fn = getattr(self.stub, method)
        try:
            return await fn(
                request,
                metadata=rpc.call_metadata(self._token, tenant),
                timeout=timeout or DEFAULT_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def close(self) -> None:
        await self._channel.close()
