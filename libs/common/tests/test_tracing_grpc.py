"""Trace context over real grpc.aio calls on loopback: the interceptors rpc.py wires in.

A tiny service with raw-bytes methods stands in for an internal one; the server
is built with ``rpc.server_interceptors`` and the client channel with
``rpc.internal_channel``, exactly as the services build theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import errors, rpc, tracing
from spooled_common.tenant import Tenant
from spooled_common.tracing import grpc_interceptors
from spooled_testing.spans import finished

TOKEN = "internal-token-for-tests"
SAY, COUNT, FAIL, CRASH = (
    "/test.Echo/Say",
    "/test.Echo/Count",
    "/test.Echo/Fail",
    "/test.Echo/Crash",
)


class Echo:
    """Handlers remember the traceparent they saw as current."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def say(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.seen.append(tracing.traceparent())
        return request

    async def count(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        self.seen.append(tracing.traceparent())
        for i in range(3):
            yield str(i).encode()

    @rpc.handle_errors
    async def fail(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise errors.NotFound("Job not found")

    async def crash(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise RuntimeError("a bug")


async def start_server(echo: Echo) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(interceptors=rpc.server_interceptors(TOKEN))
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(echo.say),
        "Count": grpc.unary_stream_rpc_method_handler(echo.count),
        "Fail": grpc.unary_unary_rpc_method_handler(echo.fail),
        "Crash": grpc.unary_unary_rpc_method_handler(echo.crash),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    rpc.add_health_and_reflection(server, ["test.Echo"])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def metadata() -> tuple[tuple[str, str], ...]:
    return rpc.call_metadata(TOKEN, Tenant("org-1"))


def one(exporter: InMemorySpanExporter, name: str, kind: trace.SpanKind) -> ReadableSpan:
    [span] = [s for s in finished(exporter, name) if s.kind is kind]
    return span


def code_of(span: ReadableSpan) -> Any:
    assert span.attributes is not None
    return span.attributes["rpc.grpc.status_code"]


@pytest.fixture
async def traced(span_exporter: InMemorySpanExporter) -> AsyncIterator[tuple[Echo, str]]:
    echo = Echo()
    server, addr = await start_server(echo)
    try:
        yield echo, addr
    finally:
        await server.stop(None)


class TestUnary:
    async def test_client_and_server_spans_are_one_trace(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        echo, addr = traced
        async with rpc.internal_channel(addr) as channel:
            with tracing.tracer().start_as_current_span("request"):
                assert await channel.unary_unary(SAY)(b"hi", metadata=metadata()) == b"hi"

        [request] = finished(span_exporter, "request")
        client = one(span_exporter, "test.Echo/Say", trace.SpanKind.CLIENT)
        server = one(span_exporter, "test.Echo/Say", trace.SpanKind.SERVER)
        assert client.parent is not None and client.parent.span_id == request.context.span_id
        assert server.parent is not None and server.parent.span_id == client.context.span_id
        assert server.parent.is_remote
        assert server.context.trace_id == request.context.trace_id
        for span in (client, server):
            assert span.attributes is not None
            assert span.attributes["rpc.system"] == "grpc"
            assert span.attributes["rpc.service"] == "test.Echo"
            assert span.attributes["rpc.method"] == "Say"
            assert code_of(span) == 0
            assert span.status.status_code is trace.StatusCode.UNSET
        # The handler ran with the server span current (so tenant_tx stores it).
        sc = server.context
        assert echo.seen == [f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"]

    async def test_an_app_error_is_the_callers_fault_on_the_server_span(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        _, addr = traced
        async with rpc.internal_channel(addr) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await channel.unary_unary(FAIL)(b"", metadata=metadata())
        assert exc.value.code() is grpc.StatusCode.NOT_FOUND
        assert errors.from_rpc_error(exc.value).code == "NOT_FOUND"  # the trailer survived
        client = one(span_exporter, "test.Echo/Fail", trace.SpanKind.CLIENT)
        server = one(span_exporter, "test.Echo/Fail", trace.SpanKind.SERVER)
        assert code_of(client) == code_of(server) == grpc.StatusCode.NOT_FOUND.value[0]
        assert client.status.status_code is trace.StatusCode.ERROR
        assert server.status.status_code is trace.StatusCode.UNSET

    async def test_a_crash_is_an_error_with_the_exception_recorded(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        _, addr = traced
        async with rpc.internal_channel(addr) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await channel.unary_unary(CRASH)(b"", metadata=metadata())
        assert exc.value.code() is grpc.StatusCode.UNKNOWN
        server = one(span_exporter, "test.Echo/Crash", trace.SpanKind.SERVER)
        assert server.status.status_code is trace.StatusCode.ERROR
        assert code_of(server) == grpc.StatusCode.UNKNOWN.value[0]
        assert [e.name for e in server.events] == ["exception"]

    async def test_a_call_without_the_token_is_traced_as_denied(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        _, addr = traced
        async with rpc.internal_channel(addr) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await channel.unary_unary(SAY)(b"hi")
        assert exc.value.code() is grpc.StatusCode.UNAUTHENTICATED
        server = one(span_exporter, "test.Echo/Say", trace.SpanKind.SERVER)
        assert code_of(server) == grpc.StatusCode.UNAUTHENTICATED.value[0]


class TestStreamsAndProbes:
    async def test_a_server_stream_continues_the_metadata_context(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        echo, addr = traced
        with tracing.tracer().start_as_current_span("caller"):
            carrier: dict[str, str] = {}
            tracing.inject(carrier)
        async with grpc.aio.insecure_channel(addr) as channel:  # no client interceptor
            call = channel.unary_stream(COUNT)(b"", metadata=(*metadata(), *carrier.items()))
            assert [m async for m in call] == [b"0", b"1", b"2"]
        [caller] = finished(span_exporter, "caller")
        server = one(span_exporter, "test.Echo/Count", trace.SpanKind.SERVER)
        assert server.parent is not None and server.parent.span_id == caller.context.span_id
        assert code_of(server) == 0
        assert echo.seen and echo.seen[0] is not None

    async def test_health_checks_are_not_traced(
        self, traced: tuple[Echo, str], span_exporter: InMemorySpanExporter
    ) -> None:
        _, addr = traced
        async with rpc.internal_channel(addr) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert span_exporter.get_finished_spans() == ()


class TestOff:
    def test_no_interceptor_at_all(self) -> None:
        assert tracing.enabled() is False
        assert grpc_interceptors.client_interceptors() == []
        assert grpc_interceptors.server_interceptors() == []
        [only] = rpc.server_interceptors(TOKEN)
        assert isinstance(only, rpc.InternalTokenInterceptor)

    async def test_calls_work_and_carry_no_context(self) -> None:
        echo = Echo()
        server, addr = await start_server(echo)
        try:
            async with rpc.internal_channel(addr) as channel:
                assert await channel.unary_unary(SAY)(b"x", metadata=metadata()) == b"x"
        finally:
            await server.stop(None)
        assert echo.seen == [None]
