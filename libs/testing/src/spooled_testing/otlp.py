"""An in-process OTLP/gRPC trace receiver: what a collector (or Jaeger on :4317) would get.

:class:`OtlpReceiver` serves ``opentelemetry.proto.collector.trace.v1.TraceService``
on ``127.0.0.1`` (an ephemeral port) from a thread of the test process, so it
works the same for sync tests (e2e, services in their own processes) and async
ones (its server never touches the test's event loop). Point a service at it
with ``OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint``; every exported span is
decoded into a :class:`ReceivedSpan` and tests wait for the spans they expect::

    with OtlpReceiver() as otlp:
        ...
        span = otlp.wait_for_span(lambda s: s.name == "job.complete", timeout=30)
        tree = otlp.trace(span.trace_id)
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

#: Spans kept (the oldest go first): a whole e2e session exports to one receiver.
MAX_SPANS = 100_000
#: Span.SpanKind enum value -> the name the OpenTelemetry API uses.
KINDS = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
STATUS = {
    trace_pb2.Status.STATUS_CODE_UNSET: "UNSET",
    trace_pb2.Status.STATUS_CODE_OK: "OK",
    trace_pb2.Status.STATUS_CODE_ERROR: "ERROR",
}


def _value(v: common_pb2.AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, ids as lower-case hex (as in a ``traceparent``)."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    #: "" for a root span.
    parent_span_id: str
    attributes: dict[str, Any]
    #: (trace_id, span_id) of every link.
    links: tuple[tuple[str, str], ...]
    status: str
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(repr=False)

    @classmethod
    def decode(cls, span: trace_pb2.Span, resource: dict[str, Any]) -> ReceivedSpan:
        return cls(
            service=str(resource.get("service.name", "")),
            name=span.name,
            kind=KINDS.get(span.kind, "UNSPECIFIED"),
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes=_attributes(span.attributes),
            links=tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links),
            status=STATUS.get(span.status.code, "UNSET"),
            start_ns=span.start_time_unix_nano,
            end_ns=span.end_time_unix_nano,
            resource=resource,
        )


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received: list[ReceivedSpan] = []
        for rs in request.resource_spans:
            resource = _attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                received.extend(ReceivedSpan.decode(s, resource) for s in ss.spans)
        self._receiver._add(received)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """``with OtlpReceiver() as r: ... r.endpoint ... r.wait_for_span(...)``."""

    def __init__(self, max_spans: int = MAX_SPANS) -> None:
        self._cond = threading.Condition()
        self._spans: collections.deque[ReceivedSpan] = collections.deque(maxlen=max_spans)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        """The value for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (plaintext gRPC)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=1).wait(5)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _add(self, spans: list[ReceivedSpan]) -> None:
        with self._cond:
            self._spans.extend(spans)
            self._cond.notify_all()

    # -- reading -----------------------------------------------------------------
    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self._spans)

    def clear(self) -> None:
        with self._cond:
            self._spans.clear()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """Every span received so far of one trace, in start order."""
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start_ns)

    def wait_until(
        self, condition: Callable[[list[ReceivedSpan]], Any], *, timeout: float, desc: str = ""
    ) -> Any:
        """Block until ``condition(spans)`` is truthy (re-checked on every export); return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = condition(list(self._spans))
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = sorted({f"{s.service}:{s.name}" for s in self._spans})
                    raise AssertionError(
                        f"timed out after {timeout:.0f}s waiting for {desc or 'spans'}; "
                        f"{len(self._spans)} span(s) received: {names[:60]}"
                    )
                self._cond.wait(remaining)

    def wait_for_span(
        self, match: Callable[[ReceivedSpan], bool], *, timeout: float, desc: str = ""
    ) -> ReceivedSpan:
        """The first received span ``match`` accepts, waiting for it if need be."""
        found: ReceivedSpan = self.wait_until(
            lambda spans: next((s for s in spans if match(s)), None), timeout=timeout, desc=desc
        )
        return found


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A running receiver for one test (see :class:`OtlpReceiver`)."""
    with OtlpReceiver() as receiver:
        yield receiver
