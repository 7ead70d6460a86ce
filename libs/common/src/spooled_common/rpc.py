"""Internal gRPC plumbing: tenant metadata, the internal token, error trailers.

Services trust only callers that present the internal token; the tenant rides
along in metadata so queue-core can set it for row-level security.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from spooled_common import db, errors
from spooled_common.tenant import Tenant
from spooled_common.tracing import grpc_interceptors as tracing_grpc

log = logging.getLogger(__name__)

TOKEN_KEY = "x-internal-token"
ORG_KEY = "x-spooled-org-id"
SCOPE_KEY = "x-spooled-queues"

#: Messages up to this size cross internal gRPC (payload cap 5 MiB plus envelope).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]


def internal_channel(addr: str) -> grpc.aio.Channel:
    """A channel to an internal service; its calls carry the trace context when tracing is on."""
    return grpc.aio.insecure_channel(
        addr, options=CHANNEL_OPTIONS, interceptors=tracing_grpc.client_interceptors() or None
    )


def server_interceptors(token: str) -> list[grpc.aio.ServerInterceptor]:
    """Every internal server's interceptors: tracing (when on) first, then the token gate."""
    return [*tracing_grpc.server_interceptors(), InternalTokenInterceptor(token)]


def call_metadata(token: str, tenant: Tenant | None) -> tuple[tuple[str, str], ...]:
    md = [(TOKEN_KEY, token)]
    if tenant is not None:
        md += [(ORG_KEY, tenant.org_id), (SCOPE_KEY, tenant.scope_header())]
    return tuple(md)


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def tenant_of(context: grpc.aio.ServicerContext) -> Tenant:
    md = _metadata(context)
    org = md.get(ORG_KEY)
    if not org:
        raise errors.Unauthorized("Missing organization context")
    return Tenant.from_headers(org, md.get(SCOPE_KEY))


class InternalTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call without the shared internal token (health checks excepted)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid internal token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method or ""
        if method.startswith(("/grpc.health.", "/grpc.reflection.")):
            return await continuation(details)
        supplied = dict(details.invocation_metadata or ()).get(TOKEN_KEY, "")
        if isinstance(supplied, str) and hmac.compare_digest(supplied.encode(), self._token):
            return await continuation(details)
        return self._deny


async def abort_with(context: grpc.aio.ServicerContext, err: errors.AppError) -> None:
    context.set_trailing_metadata(((errors.ERROR_TRAILER, errors.encode(err)),))
    await context.abort(err.grpc_code, err.message)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def handle_errors(fn: F) -> F:
    """Servicer method decorator: AppErrors become status + trailer; a database outage
    UNAVAILABLE; the rest INTERNAL."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except errors.AppError as err:
            await abort_with(context, err)
        except grpc.RpcError:
            raise
        except Exception as exc:
            # A database outage that escaped the DB edge is UNAVAILABLE, never INTERNAL.
            down = db.unavailable(exc)
            if down is None:
                log.exception("unhandled error in %s", fn.__name__)
            await abort_with(context, down or errors.InternalError())

    return wrapper  # type: ignore[return-value]


def add_health_and_reflection(
    server: grpc.aio.Server, service_names: list[str]
) -> health.HealthServicer:
    """Register grpc.health.v1 (all SERVING) and reflection for the given services."""
    servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in [*service_names, ""]:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    return servicer


S = TypeVar("S")


def internal_server(
    add_servicer: Callable[[S, grpc.aio.Server], object], servicer: S, token: str, service_name: str
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    """An internal service's server: token gate, internal message limits, health, reflection.

    The health servicer comes back so shutdown can turn it NOT_SERVING before the
    server stops and peers move away first.
    """
    server = grpc.aio.server(interceptors=server_interceptors(token), options=CHANNEL_OPTIONS)
    add_servicer(servicer, server)
    return server, add_health_and_reflection(server, [service_name])


class InternalClient:
    """A channel to one internal service: tenant + token in metadata, errors as AppErrors.

    ``await client.call(tenant, "Method", request)`` returns the reply or raises the
    AppError the peer raised (a peer that is down or slow becomes a 503).
    ``timeout`` overrides :attr:`default_timeout` for this client.
    """

    #: Unary calls give up after this long unless the call says otherwise.
    default_timeout: float = 30.0

    def __init__(
        self,
        addr: str,
        token: str,
        stub: Callable[[grpc.aio.Channel], Any],
        *,
        timeout: float | None = None,
    ) -> None:
        if timeout is not None:
            self.default_timeout = timeout
        self._channel = internal_channel(addr)
        self.stub = stub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._token = token

    def metadata(self, tenant: Tenant | None) -> tuple[tuple[str, str], ...]:
        return call_metadata(self._token, tenant)

    async def call(
        self, tenant: Tenant | None, method: str, request: Any, *, timeout: float | None = None
    ) -> Any:
        fn = getattr(self.stub, method)
        try:
            return await fn(
                request, metadata=self.metadata(tenant), timeout=timeout or self.default_timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def serving(self, timeout: float = 2.0) -> bool:
        """True when the peer's grpc.health.v1 reports SERVING (no token needed)."""
        reply = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()
