"""A job's completion webhook in the job's trace: relay → NATS headers → consumer → delivery.

Everything runs in this process against the real NATS, Postgres and an HTTP
receiver; spans are kept in memory (``span_exporter``).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import tracing
from spooled_common.db import maintenance_tx
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_queue_core.app import QueueCoreApp
from spooled_testing.receiver import WebhookReceiver
from spooled_webhooks.deliveries.service import DeliveryService
from wh_helpers import Rpc, run_job, until_received, wait_until


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        span.context.trace_id == parent.context.trace_id
        and span.parent is not None
        and span.parent.span_id == parent.context.span_id
    )


async def test_the_completion_webhook_is_delivered_in_the_jobs_trace(
    span_exporter: InMemorySpanExporter,
    make_app: Any,
    queue_core: QueueCoreApp,
    receiver: WebhookReceiver,
    org: str,
) -> None:
    app = await make_app()
    with tracing.tracer().start_as_current_span("enqueue", kind=trace.SpanKind.SERVER):
        job_id = await run_job(queue_core, org, "traced", completion_webhook=receiver.url("/done"))
    await until_received(receiver, 1, path="/done")

    async def delivered() -> list[ReadableSpan]:
        return spans_named(span_exporter, "deliver job.completed")

    [deliver] = await wait_until(delivered, 20, "the delivery span")
    [enqueue] = spans_named(span_exporter, "enqueue")
    [publish] = spans_named(span_exporter, "publish job.completed")
    process = [
        s for s in spans_named(span_exporter, "process job.completed") if child_of(s, publish)
    ]
    assert len(process) == 1, [s.name for s in span_exporter.get_finished_spans()]
    assert child_of(publish, enqueue)
    assert child_of(deliver, process[0])

    assert process[0].kind is trace.SpanKind.CONSUMER
    assert process[0].attributes is not None
    assert process[0].attributes["messaging.system"] == "nats"
    assert process[0].attributes["messaging.consumer.group.name"] == app.settings.consumer_name
    assert process[0].attributes["spooled.job_id"] == job_id

    assert deliver.kind is trace.SpanKind.CLIENT
    assert deliver.attributes is not None
    assert deliver.attributes["http.request.method"] == "POST"
    assert deliver.attributes["http.response.status_code"] == 200
    assert deliver.attributes["server.address"] == "127.0.0.1"
    assert deliver.attributes["server.port"] == receiver.port
    assert deliver.attributes["spooled.job_id"] == job_id
    assert deliver.attributes["spooled.org_id"] == org
    assert deliver.attributes["spooled.webhook.attempt"] == 1
    assert deliver.status.status_code is trace.StatusCode.UNSET
    assert "url.full" not in deliver.attributes  # a receiver's URL may hold a token

    # The delivery row keeps the consumer span's context (for retries hours later).
    async with maintenance_tx(app.pool) as conn:
        stored = await conn.fetchval(
            "SELECT traceparent FROM webhooks.deliveries WHERE job_id = $1", job_id
        )
    sc = process[0].context
    assert stored == f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


async def test_a_failed_attempt_is_an_error_span(
    span_exporter: InMemorySpanExporter,
    make_app: Any,
    queue_core: QueueCoreApp,
    org: str,
) -> None:
    await make_app()
    with WebhookReceiver(statuses=[503, 200]) as receiver:
        with tracing.tracer().start_as_current_span("enqueue"):
            await run_job(queue_core, org, "traced", completion_webhook=receiver.url("/done"))

        async def two_attempts() -> list[ReadableSpan]:
            found = spans_named(span_exporter, "deliver job.completed")
            return found if len(found) >= 2 else []

        first, second = sorted(
            await wait_until(two_attempts, 30, "two delivery attempts"),
            key=lambda s: s.start_time or 0,
        )
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is trace.StatusCode.ERROR
    assert second.attributes["spooled.webhook.attempt"] == 2
    assert second.status.status_code is trace.StatusCode.UNSET
    # The retry continues the same trace, under the same consumer span.
    assert first.parent is not None and second.parent is not None
    assert first.parent.span_id == second.parent.span_id


async def test_a_manual_retry_stays_in_the_trace_and_links_to_its_request(
    span_exporter: InMemorySpanExporter,
    make_app: Any,
    queue_core: QueueCoreApp,
    receiver: WebhookReceiver,
    org: str,
) -> None:
    app = await make_app()
    api = Rpc(app.grpc_port)
    try:
        hook = await api.call(
            org,
            "CreateWebhook",
            pb.CreateWebhookRequest(
                name="hook", url=receiver.url(), events=["job.completed"], enabled=True
            ),
        )
    finally:
        await api.close()
    with tracing.tracer().start_as_current_span("enqueue"):
        await run_job(queue_core, org, "traced")
    [first] = await until_received(receiver, 1)

    async def sent() -> Any:
        return spans_named(span_exporter, "deliver job.completed")

    [original] = await wait_until(sent, 20, "the first delivery span")
    assert app.dispatcher is not None
    deliveries = DeliveryService(app.pool, app.dispatcher, app.settings.claim_lease_secs)
    with tracing.tracer().start_as_current_span("manual-retry") as request:
        ok, _ = await deliveries.retry(org, hook.id, first.delivery_id)
    assert ok
    [retry] = [
        s
        for s in spans_named(span_exporter, "deliver job.completed")
        if s.context.span_id != original.context.span_id
    ]
    assert retry.parent is not None and original.parent is not None
    assert retry.parent.span_id == original.parent.span_id  # the event's consumer span
    assert [ln.context.span_id for ln in retry.links] == [request.get_span_context().span_id]
    assert original.links == ()
