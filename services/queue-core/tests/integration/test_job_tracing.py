"""A job's trace context in queue-core: stored at enqueue, continued by claim, settle and events.

The service methods run inside a span standing in for the gRPC request (the server
interceptor makes it current in production); spans are kept in memory.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import tracing
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob
from spooled_queue_core.testing import claim_one, enqueue, job_row, sql


def request(name: str) -> Any:
    """A span standing in for one incoming request."""
    return tracing.tracer().start_as_current_span(name, kind=trace.SpanKind.SERVER)


def tp_of(span: ReadableSpan) -> str:
    sc = span.context
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


def only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


async def outbox(pool: asyncpg.Pool, job_id: str) -> dict[str, str | None]:
    rows = await sql(
        pool, "SELECT event_type, traceparent FROM core.outbox WHERE aggregate = $1", job_id
    )
    return {r["event_type"]: r["traceparent"] for r in rows}


def assert_continues(span: ReadableSpan, parent: ReadableSpan, linked: ReadableSpan) -> None:
    """``span`` is a child of ``parent`` and links to the request ``linked``."""
    assert span.context.trace_id == parent.context.trace_id
    assert span.parent is not None and span.parent.span_id == parent.context.span_id
    assert [ln.context.span_id for ln in span.links] == [linked.context.span_id]
    assert span.links[0].context.trace_id == linked.context.trace_id != parent.context.trace_id


class TestJobLife:
    async def test_claim_and_complete_continue_the_enqueue_trace(
        self,
        services: Services,
        pool: asyncpg.Pool,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        with request("enqueue"):
            job_id = await enqueue(services, tenant, "mail")
        enqueued = only(span_exporter, "enqueue")
        assert (await job_row(pool, job_id))["traceparent"] == tp_of(enqueued)

        with request("claim"):
            row = await claim_one(services, tenant, "mail", worker="w1")
        assert row["traceparent"] == tp_of(enqueued)
        with request("complete"):
            await services.leases.complete(tenant, job_id, "w1", row["lease_id"], None)

        claim = only(span_exporter, "job.claim")
        complete = only(span_exporter, "job.complete")
        assert_continues(claim, enqueued, only(span_exporter, "claim"))
        assert_continues(complete, enqueued, only(span_exporter, "complete"))
        assert claim.attributes == {
            "spooled.org_id": tenant.org_id,
            "spooled.queue": "mail",
            "spooled.job_id": job_id,
            "spooled.worker_id": "w1",
            "spooled.batch_size": 1,
        }
        assert complete.attributes is not None
        assert complete.attributes["spooled.job.status"] == "completed"
        # Each span covers its request, not the time since the enqueue.
        assert claim.start_time is not None and enqueued.end_time is not None
        assert claim.start_time >= enqueued.end_time

        # Every event of the job continues the job's trace, whoever caused it.
        assert await outbox(pool, job_id) == {
            "job.created": tp_of(enqueued),
            "job.started": tp_of(enqueued),
            "job.completed": tp_of(enqueued),
        }

    async def test_a_terminal_failure_continues_the_trace_too(
        self,
        services: Services,
        pool: asyncpg.Pool,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        with request("enqueue"):
            job_id = await enqueue(services, tenant, "mail", max_retries=0)
        row = await claim_one(services, tenant, "mail", worker="w1")
        with request("fail"):
            await services.leases.fail(tenant, job_id, "w1", row["lease_id"], "boom")
        fail = only(span_exporter, "job.fail")
        assert_continues(fail, only(span_exporter, "enqueue"), only(span_exporter, "fail"))
        assert fail.attributes is not None
        assert fail.attributes["spooled.job.status"] == "deadletter"
        assert "boom" not in str(fail.attributes)  # a worker's error text is not an attribute
        assert (await outbox(pool, job_id))["job.failed"] == tp_of(only(span_exporter, "enqueue"))

    async def test_a_batch_stays_one_insert_and_every_job_keeps_the_context(
        self,
        services: Services,
        pool: asyncpg.Pool,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        with request("bulk"):
            created = await services.jobs.create_many(tenant, [NewJob("bulk") for _ in range(3)])
        rows = await sql(
            pool,
            "SELECT traceparent FROM core.jobs WHERE id = ANY($1::text[])",
            [c.job_id for c in created],
        )
        assert [r["traceparent"] for r in rows] == [tp_of(only(span_exporter, "bulk"))] * 3

    async def test_other_events_take_the_context_of_the_request_that_caused_them(
        self,
        services: Services,
        pool: asyncpg.Pool,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        job_id = await enqueue(services, tenant, "mail")  # outside any span
        with request("cancel"):
            await services.jobs.cancel(tenant, job_id)
        assert await outbox(pool, job_id) == {
            "job.created": None,
            "job.cancelled": tp_of(only(span_exporter, "cancel")),
        }


class TestOff:
    async def test_nothing_is_stored_and_no_span_is_made(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        with tracing.tracer().start_as_current_span("ignored"):
            job_id = await enqueue(services, tenant, "mail")
            row = await claim_one(services, tenant, "mail", worker="w1")
            await services.leases.complete(tenant, job_id, "w1", row["lease_id"], None)
        assert row["traceparent"] is None
        assert (await job_row(pool, job_id))["traceparent"] is None
        assert set((await outbox(pool, job_id)).values()) == {None}

    async def test_a_job_enqueued_untraced_gets_no_job_spans_later(
        self,
        services: Services,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        job_id = await enqueue(services, tenant, "mail")  # no request span: nothing stored
        with request("claim"):
            row = await claim_one(services, tenant, "mail", worker="w1")
            await services.leases.complete(tenant, job_id, "w1", row["lease_id"], None)
        assert [s.name for s in span_exporter.get_finished_spans()] == ["claim"]


class TestBatchedCompletion:
    async def test_each_completed_job_continues_its_own_trace(
        self,
        services: Services,
        pool: asyncpg.Pool,
        tenant: Tenant,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        from spooled_queue_core.leases.service import Completion

        enqueues = []
        for name in ("enqueue-a", "enqueue-b"):
            with request(name):
                await enqueue(services, tenant, "batch")
            enqueues.append(only(span_exporter, name))
        rows = await services.leases.claim(tenant, "batch", "w1", limit=2)
        with request("complete"):
            await services.leases.complete_many(
                tenant, [Completion(r["id"], "w1", r["lease_id"]) for r in rows]
            )
        spans = [s for s in span_exporter.get_finished_spans() if s.name == "job.complete"]
        assert len(spans) == 2
        by_job = {s.attributes["spooled.job_id"]: s for s in spans if s.attributes}
        for row in rows:
            parent = next(e for e in enqueues if tp_of(e) == row["traceparent"])
            assert_continues(by_job[row["id"]], parent, only(span_exporter, "complete"))
            assert (await outbox(pool, row["id"]))["job.completed"] == tp_of(parent)
