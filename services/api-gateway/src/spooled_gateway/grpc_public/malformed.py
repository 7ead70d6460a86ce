"""Bytes that are not the method's protobuf message: INVALID_ARGUMENT, never UNKNOWN.

grpc decodes each request before our servicer runs, and a decoding failure
surfaces as ``UNKNOWN "Unexpected DecodeError"``: a server fault in the
client's eyes, for what is bad input. :class:`RejectMalformed` wraps every
method's deserializer so that undecodable bytes become a :class:`Malformed`
marker, and the method's behaviour ends the call with ``INVALID_ARGUMENT``
before any servicer code (authentication included) sees it. Inside a
ProcessJobs stream the marker ends the stream the same way.

Guarded by tests/integration/test_grpc_hostile.py.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

#: What the client is told (the decoder's own text names internal types).
DETAILS = "Malformed request: not a valid {} message"


@dataclass(frozen=True, slots=True)
class Malformed:
    """Stands in for a request whose bytes did not decode."""

    message_type: str


def _safe(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except (DecodeError, ValueError, RuntimeError) as exc:
            # Generated FromString raises DecodeError; ValueError/RuntimeError cover
            # invalid UTF-8 in string fields on some protobuf runtimes.
            owner = getattr(deserializer, "__self__", None)
            name = getattr(owner, "DESCRIPTOR", None)
            return Malformed(name.full_name if name is not None else type(exc).__name__)

    return deserialize


async def _reject(context: grpc.aio.ServicerContext, request: Malformed) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, DETAILS.format(request.message_type))


def _unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await _reject(context, request)
        return await behavior(request, context)

    return guarded


# grpc.aio runs a behaviour according to its kind (coroutine function or async generator
# function), so each wrapper is of the same kind as the behaviour it wraps.
def _server_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # a coroutine writing with context.write()
        return _unary(behavior)

    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await _reject(context, request)
        async for response in behavior(request, context):
            yield response

    return guarded


def _checked(requests: AsyncIterable[Any], context: grpc.aio.ServicerContext) -> Any:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Malformed):
                await _reject(context, request)
            yield request

    return checked()


def _client_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def streaming(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async for response in behavior(_checked(requests, context), context):
                yield response

        return streaming

    async def single(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(_checked(requests, context), context)

    return single


class RejectMalformed(grpc.aio.ServerInterceptor):
    """Server interceptor: undecodable requests are ``INVALID_ARGUMENT``."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _guard(handler)


def _guard(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    deserializer = _safe(handler.request_deserializer)
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary), deserializer, serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _server_stream(handler.unary_stream), deserializer, serializer
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _client_stream(handler.stream_unary), deserializer, serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        _client_stream(handler.stream_stream), deserializer, serializer
    )
