"""Trace context in and out of carriers and rows, with tracing on (in memory) and off."""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import tracing
from spooled_common.tracing import messaging
from spooled_testing.spans import finished

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class TestOff:
    def test_nothing_to_store_or_send(self) -> None:
        assert tracing.enabled() is False
        with tracing.tracer().start_as_current_span("ignored"):
            assert tracing.traceparent() is None
            tracing.annotate({"spooled.org_id": "o"})  # a no-op, not an error
            assert tracing.current_link() == []


class TestTraceparent:
    def test_names_the_current_span(self, span_exporter: InMemorySpanExporter) -> None:
        with tracing.tracer().start_as_current_span("enqueue") as span:
            value = tracing.traceparent()
        assert value is not None and TRACEPARENT.match(value)
        sc = span.get_span_context()
        assert value.split("-")[1:3] == [f"{sc.trace_id:032x}", f"{sc.span_id:016x}"]

    def test_none_outside_any_span(self, span_exporter: InMemorySpanExporter) -> None:
        assert tracing.traceparent() is None

    def test_a_stored_value_parents_a_later_span(self, span_exporter: InMemorySpanExporter) -> None:
        with tracing.tracer().start_as_current_span("enqueue"):
            stored = tracing.traceparent()
        # Later, in another request: continue the stored trace.
        with tracing.tracer().start_as_current_span("claim", context=tracing.context_of(stored)):
            pass
        [enqueue] = finished(span_exporter, "enqueue")
        [claim] = finished(span_exporter, "claim")
        assert claim.context.trace_id == enqueue.context.trace_id
        assert claim.parent is not None and claim.parent.span_id == enqueue.context.span_id

    def test_missing_or_malformed_values_name_no_context(
        self, span_exporter: InMemorySpanExporter
    ) -> None:
        for value in (None, "", "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"):
            assert tracing.context_of(value) is None
            assert tracing.span_context_of(value) is None


class TestCarriers:
    def test_inject_then_extract_continues_the_trace(
        self, span_exporter: InMemorySpanExporter
    ) -> None:
        headers: dict[str, str] = {}
        with tracing.tracer().start_as_current_span("producer"):
            tracing.inject(headers)
        assert TRACEPARENT.match(headers["traceparent"])
        with tracing.tracer().start_as_current_span("consumer", context=tracing.extract(headers)):
            pass
        [producer] = finished(span_exporter, "producer")
        [consumer] = finished(span_exporter, "consumer")
        assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
        assert consumer.parent.is_remote

    def test_a_carrier_without_context_extracts_none(
        self, span_exporter: InMemorySpanExporter
    ) -> None:
        assert tracing.extract(None) is None
        assert tracing.extract({}) is None
        assert tracing.extract({"traceparent": "nonsense"}) is None

    def test_annotate_and_link_use_the_current_span(
        self, span_exporter: InMemorySpanExporter
    ) -> None:
        with tracing.tracer().start_as_current_span("request") as request:
            tracing.annotate({"spooled.org_id": "org-1"})
            [link] = tracing.current_link()
        [done] = finished(span_exporter, "request")
        assert done.attributes is not None and done.attributes["spooled.org_id"] == "org-1"
        assert link.context == request.get_span_context()


class TestMessagingSpans:
    def test_publish_then_process_across_headers(self, span_exporter: InMemorySpanExporter) -> None:
        with tracing.tracer().start_as_current_span("enqueue"):
            stored = tracing.traceparent()
        attributes = messaging.event_attributes("job.completed", "org-1", "emails", "job-1")
        headers: dict[str, str] = {}
        with messaging.publish_span(
            "job.completed",
            "spooled.events.org-1.emails.job.completed",
            "core-1-7",
            stored,
            attributes,
        ):
            tracing.inject(headers)
        span = messaging.process_span(
            "job.completed",
            "spooled.events.org-1.emails.job.completed",
            headers,
            attributes,
            consumer_group="webhooks",
        )
        span.end()

        [enqueue] = finished(span_exporter, "enqueue")
        [publish] = finished(span_exporter, "publish job.completed")
        [process] = finished(span_exporter, "process job.completed")
        assert publish.kind is trace.SpanKind.PRODUCER and process.kind is trace.SpanKind.CONSUMER
        assert publish.parent is not None and publish.parent.span_id == enqueue.context.span_id
        assert process.parent is not None and process.parent.span_id == publish.context.span_id
        assert {publish.context.trace_id, process.context.trace_id} == {enqueue.context.trace_id}
        assert publish.attributes is not None and process.attributes is not None
        assert publish.attributes["messaging.system"] == "nats"
        assert publish.attributes["messaging.message.id"] == "core-1-7"
        assert process.attributes["messaging.consumer.group.name"] == "webhooks"
        for done in (publish, process):
            assert done.attributes is not None
            assert done.attributes["messaging.destination.name"].startswith("spooled.events.")
            assert done.attributes["spooled.job_id"] == "job-1"
            assert done.attributes["spooled.queue"] == "emails"
            assert done.attributes["spooled.org_id"] == "org-1"

    def test_only_job_events_name_a_job(self) -> None:
        assert "spooled.job_id" not in messaging.event_attributes("queue.paused", "o", "q", "q")
        assert messaging.event_attributes("job.created", "o", None, "j") == {
            "spooled.event": "job.created",
            "spooled.org_id": "o",
            "spooled.job_id": "j",
        }
