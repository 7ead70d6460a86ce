"""In-process tracing for tests that drive a service in the test process.

The ``span_exporter`` fixture turns Spooled's tracing on for one test with an
in-memory exporter (no OTLP, no global provider), and off again afterwards::

    async def test_claim_continues_the_jobs_trace(span_exporter, ...):
        ...
        [span] = finished(span_exporter, "job.claim")

Build gRPC servers and channels inside the test: they add their tracing
interceptors only when tracing is on at the time they are built.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import tracing


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.reset()
        provider.shutdown()


def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished spans called ``name``, oldest first."""
    return [s for s in exporter.get_finished_spans() if s.name == name]
