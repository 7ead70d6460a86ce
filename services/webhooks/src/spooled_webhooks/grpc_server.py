"""The internal gRPC API ``spooled.internal.v1.Webhooks``.

Each method reads the tenant from metadata, calls a service and maps the
result to protobuf; AppErrors become a gRPC status plus the error trailer
(``handle_errors``). Only callers with the internal token get this far.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health
from spooled_common import rpc, timefmt
from spooled_common.rpc import tenant_of
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_proto.spooled.internal.v1 import webhooks_pb2_grpc

from spooled_webhooks import convert, metrics
from spooled_webhooks.convert import optional
from spooled_webhooks.deliveries.service import DeliveryService
from spooled_webhooks.endpoints.service import EndpointService
from spooled_webhooks.inbound.service import InboundService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Webhooks"].full_name

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Ctx: TypeAlias = grpc.aio.ServicerContext


def _rpc(fn: F) -> F:
    """Error mapping (``handle_errors``) plus a latency histogram per method."""
    inner = rpc.handle_errors(fn)
    seconds = metrics.RPC_SECONDS.labels(fn.__name__)

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        start = time.perf_counter()
        try:
            return await inner(self, request, context)
        finally:
            seconds.observe(time.perf_counter() - start)

    return wrapper  # type: ignore[return-value]


def _org(context: Ctx) -> str:
    return tenant_of(context).org_id


class WebhooksServicer(webhooks_pb2_grpc.WebhooksServicer):
    def __init__(
        self, endpoints: EndpointService, deliveries: DeliveryService, inbound: InboundService
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._inbound = inbound

    # -- endpoints -----------------------------------------------------------------
    @_rpc
    async def CreateWebhook(
        self, request: pb.CreateWebhookRequest, context: Ctx
    ) -> pb.OutgoingWebhook:
        row = await self._endpoints.create(
            _org(context), convert.fields_from_create(request), optional(request, "max_webhooks")
        )
        return convert.webhook(row)

    @_rpc
    async def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: Ctx
    ) -> pb.OutgoingWebhookList:
        rows = await self._endpoints.list_all(_org(context))
        return pb.OutgoingWebhookList(webhooks=[convert.webhook(r) for r in rows])

    @_rpc
    async def GetWebhook(self, request: pb.WebhookRef, context: Ctx) -> pb.OutgoingWebhook:
        return convert.webhook(await self._endpoints.get(_org(context), request.id))

    @_rpc
    async def UpdateWebhook(
        self, request: pb.UpdateWebhookRequest, context: Ctx
    ) -> pb.OutgoingWebhook:
        row = await self._endpoints.update(
            _org(context),
            request.id,
            convert.changes_from_update(request),
            optional(request, "max_webhooks"),
        )
        return convert.webhook(row)

    @_rpc
    async def DeleteWebhook(self, request: pb.WebhookRef, context: Ctx) -> empty_pb2.Empty:
        await self._endpoints.delete(_org(context), request.id)
        return empty_pb2.Empty()

    @_rpc
    async def TestWebhook(self, request: pb.WebhookRef, context: Ctx) -> pb.TestWebhookResponse:
        outcome = await self._endpoints.test(_org(context), request.id)
        return pb.TestWebhookResponse(
            success=outcome.success,
            status_code=outcome.status_code,
            response_time_ms=outcome.duration_ms,
            error=outcome.error,
        )

    # -- deliveries ----------------------------------------------------------------
    @_rpc
    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Ctx
    ) -> pb.WebhookDeliveryList:
        rows = await self._deliveries.list_for(
            _org(context),
            request.webhook_id,
            status=optional(request, "status"),
            limit=request.limit,
            offset=request.offset,
        )
        return pb.WebhookDeliveryList(deliveries=[convert.delivery(r) for r in rows])

    @_rpc
    async def RetryWebhookDelivery(
        self, request: pb.RetryWebhookDeliveryRequest, context: Ctx
    ) -> pb.RetryWebhookDeliveryResponse:
        success, message = await self._deliveries.retry(
            _org(context), request.webhook_id, request.delivery_id
        )
        return pb.RetryWebhookDeliveryResponse(success=success, message=message)

    # -- incoming ------------------------------------------------------------------
    @_rpc
    async def IngestWebhook(
        self, request: pb.IngestWebhookRequest, context: Ctx
    ) -> pb.IngestWebhookResponse:
        done = await self._inbound.ingest(
            _org(context),
            request.provider,
            request.body,
            dict(request.headers),
            request.credential,
            request.max_payload_bytes or 1024 * 1024,
        )
        return pb.IngestWebhookResponse(
            job_id=done.job_id, queue_name=done.queue_name, status=done.status
        )

    @_rpc
    async def ListInboundDeliveries(
        self, request: pb.ListInboundDeliveriesRequest, context: Ctx
    ) -> pb.InboundDeliveryList:
        rows = await self._inbound.list_log(
            _org(context),
            status=optional(request, "status"),
            since=timefmt.from_ts(request, "since"),
            queue_name=optional(request, "queue_name"),
            limit=request.limit,
            offset=request.offset,
        )
        return pb.InboundDeliveryList(deliveries=[convert.inbound(r) for r in rows])


def build_server(
    servicer: WebhooksServicer, token: str
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    return rpc.internal_server(
        webhooks_pb2_grpc.add_WebhooksServicer_to_server, servicer, token, SERVICE_NAME
    )
