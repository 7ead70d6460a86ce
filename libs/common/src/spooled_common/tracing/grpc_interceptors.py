"""Trace context over grpc.aio: a server interceptor and a unary client interceptor.

Hand-written rather than opentelemetry-instrumentation-grpc: the services use
grpc.aio only, the internal API is unary, and these add nothing at all while
tracing is off (:func:`server_interceptors` and :func:`client_interceptors`
return no interceptor, so channels and servers keep grpc's fast path).

Span names are ``<package.Service>/<Method>`` with ``rpc.system=grpc``,
``rpc.service``, ``rpc.method`` and ``rpc.grpc.status_code``. Health checks and
reflection are not traced on either side (probes would drown everything else).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from spooled_common.tracing import attrs
from spooled_common.tracing._context import extract, inject
from spooled_common.tracing._setup import enabled, tracer

_UNTRACED = ("/grpc.health.", "/grpc.reflection.")
#: Codes that make a *server* span an error (semantic conventions for gRPC):
#: the rest are the caller's doing, not this service's failure.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def rpc_attributes(full_method: str) -> dict[str, str]:
    """``/pkg.Service/Method`` → the rpc.* attributes."""
    service, _, method = full_method.lstrip("/").partition("/")
    return {attrs.RPC_SYSTEM: "grpc", attrs.RPC_SERVICE: service, attrs.RPC_METHOD: method}


def _status_code(value: Any) -> grpc.StatusCode:
    if isinstance(value, grpc.StatusCode):
        return value
    for code in grpc.StatusCode:  # some grpc builds hand out the int
        if code.value[0] == value:
            return code
    return grpc.StatusCode.OK


def _finish(span: trace.Span, code: grpc.StatusCode, *, server: bool) -> None:
    span.set_attribute(attrs.RPC_GRPC_STATUS, code.value[0])
    if code is not grpc.StatusCode.OK and (not server or code in _SERVER_ERRORS):
        span.set_status(Status(StatusCode.ERROR, code.name))


# -- server --------------------------------------------------------------------------
class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Continues the caller's trace (``traceparent`` metadata) in a SERVER span."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method or ""
        if handler is None or not enabled() or method.startswith(_UNTRACED):
            return handler
        carrier = {k: v for k, v in details.invocation_metadata or () if isinstance(v, str)}
        return _wrap(handler, method, extract(carrier))


@contextmanager
def _server_span(
    method: str, parent: Context | None, context: grpc.aio.ServicerContext
) -> Iterator[trace.Span]:
    with tracer().start_as_current_span(
        method.lstrip("/"),
        context=parent,
        kind=SpanKind.SERVER,
        attributes=rpc_attributes(method),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except grpc.aio.AbortError:
            # context.abort(): the status is already on the context.
            _finish(span, _status_code(context.code()), server=True)
            raise
        except asyncio.CancelledError:
            _finish(span, grpc.StatusCode.CANCELLED, server=True)  # the caller went away
            raise
        except Exception as exc:
            span.record_exception(exc)
            _finish(span, grpc.StatusCode.UNKNOWN, server=True)
            raise
        else:
            _finish(span, _status_code(context.code()), server=True)


def _wrap(handler: Any, method: str, parent: Context | None) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method, parent))
    if handler.stream_unary is not None:
        return handler._replace(stream_unary=_wrap_unary(handler.stream_unary, method, parent))
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=_wrap_stream(handler.unary_stream, method, parent))
    if handler.stream_stream is not None:
        return handler._replace(stream_stream=_wrap_stream(handler.stream_stream, method, parent))
    return handler  # type: ignore[no-any-return]


def _wrap_unary(inner: Any, method: str, parent: Context | None) -> Any:
    async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with _server_span(method, parent, context):
            return await inner(request, context)

    return behaviour


def _wrap_stream(inner: Any, method: str, parent: Context | None) -> Any:
    if not inspect.isasyncgenfunction(inner):
        # A streaming handler that writes with context.write() and returns.
        return _wrap_unary(inner, method, parent)

    async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        with _server_span(method, parent, context):
            async for item in inner(request, context):
                yield item

    return behaviour


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """Interceptors a gRPC server adds, first in its list (none while tracing is off)."""
    return [ServerInterceptor()] if enabled() else []


# -- client --------------------------------------------------------------------------
class UnaryClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """A CLIENT span per call, its context sent along as ``traceparent`` metadata."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        raw = details.method
        method = raw.decode() if isinstance(raw, bytes) else str(raw)
        if not enabled() or method.startswith(_UNTRACED):
            return await continuation(details, request)
        with tracer().start_as_current_span(
            method.lstrip("/"),
            kind=SpanKind.CLIENT,
            attributes=rpc_attributes(method),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            inject(carrier)
            metadata = grpc.aio.Metadata(*(details.metadata or ()), *carrier.items())
            call = await continuation(details._replace(metadata=metadata), request)
            try:
                await call  # the span covers the whole call, not just its start
            except grpc.aio.AioRpcError as exc:
                _finish(span, exc.code(), server=False)
            else:
                _finish(span, grpc.StatusCode.OK, server=False)
            # The caller awaits the same (finished) call: reply or error as usual.
            return call


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for a channel to an internal service (none while tracing is off)."""
    return [UnaryClientInterceptor()] if enabled() else []
