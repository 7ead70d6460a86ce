"""The gateway's path to webhooks: the webhooks service's internal gRPC API.

``await webhooks.call(tenant, "CreateWebhook", request)`` runs the RPC with the
tenant and internal token in metadata and turns a failed call back into the
AppError the service raised (a service that is down is a 503).
"""

from __future__ import annotations

from typing import Any

import grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import webhooks_pb2_grpc

#: Endpoint tests and manual retries wait for one HTTP attempt (10 s) and DNS.
DEFAULT_TIMEOUT_S = 20.0


class WebhooksClient:
    def __init__(self, addr: str, token: str) -> None:
        self._channel = grpc.aio.insecure_channel(addr, options=rpc.CHANNEL_OPTIONS)
        self.stub = webhooks_pb2_grpc.WebhooksStub(self._channel)
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
