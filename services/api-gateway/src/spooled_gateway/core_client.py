"""The gateway's only path to job state: queue-core's internal gRPC API.

``await core.call(tenant, "CreateJob", request)`` runs the RPC with the tenant
and internal token in metadata and turns a failed call back into the AppError
queue-core raised, so route handlers just let it propagate.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc

#: Unary calls give up after this long (claims with wait_ms get wait + this).
DEFAULT_TIMEOUT_S = 30.0


class CoreClient:
    def __init__(self, addr: str, token: str) -> None:
        self._channel = grpc.aio.insecure_channel(addr, options=rpc.CHANNEL_OPTIONS)
        self.stub = queue_core_pb2_grpc.QueueCoreStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._token = token

    def metadata(self, tenant: Tenant | None) -> tuple[tuple[str, str], ...]:
        return rpc.call_metadata(self._token, tenant)

    async def call(
        self, tenant: Tenant | None, method: str, request: Any, *, timeout: float | None = None
    ) -> Any:
        fn = getattr(self.stub, method)
        try:
            return await fn(
                request, metadata=self.metadata(tenant), timeout=timeout or DEFAULT_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def serving(self, timeout: float = 2.0) -> bool:
        """True when queue-core's grpc.health.v1 reports SERVING (no token needed)."""
        reply = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()
