"""The gateway's REST server spans (FastAPI's own telemetry, configured by spooled_common).

No lifespan and no database: an unauthenticated API call is answered (401) by the
auth dependency before anything is looked up, which is all a span needs.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_gateway.app import create_app
from spooled_gateway.settings import GatewaySettings

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def app() -> FastAPI:
    settings = GatewaySettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
            "SPOOLED_INTERNAL_TOKEN": "t" * 40,
            "GRPC_PORT": 0,
        }
    )
    return create_app(settings)


async def get(gateway: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.get(path, headers={"traceparent": TRACEPARENT})


async def test_a_request_span_continues_the_callers_trace(
    span_exporter: InMemorySpanExporter,
) -> None:
    gateway = app()
    assert (await get(gateway, "/api/v1/jobs")).status_code == 401
    [span] = span_exporter.get_finished_spans()
    assert span.name == "GET /api/v1/jobs"
    assert span.kind is trace.SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.route"] == "/api/v1/jobs"
    assert span.attributes["http.response.status_code"] == 401


async def test_probes_are_not_traced(span_exporter: InMemorySpanExporter) -> None:
    gateway = app()
    assert (await get(gateway, "/health")).status_code == 200
    assert span_exporter.get_finished_spans() == ()


async def test_an_app_built_while_tracing_is_off_never_traces() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from spooled_common import tracing

    gateway = app()  # tracing off now
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)  # ... and on later: the app keeps its setting
    try:
        assert (await get(gateway, "/api/v1/jobs")).status_code == 401
    finally:
        tracing.reset()
    assert exporter.get_finished_spans() == ()
