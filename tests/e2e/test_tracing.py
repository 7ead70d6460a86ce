"""One job, one trace: from ``POST /api/v1/jobs`` to its completion webhook, across services.

Every service of the stack exports spans over OTLP/gRPC to the session's in-process
receiver (conftest ``otlp``), recording only traces whose caller sent a sampled W3C
``traceparent``. The producer sends one with the POST, as an instrumented application
would, so the trace id is known up front. The worker sends its own (another trace, as
any worker's request is): the job's claim and completion spans continue the job's
trace and link to the worker's requests.

Expected tree of the job's trace (service: span)::

    caller's span (ours, not exported)
    └ gateway: POST /api/v1/jobs
      └ gateway: spooled.internal.v1.QueueCore/CreateJob        (CLIENT)
        └ queue-core: spooled.internal.v1.QueueCore/CreateJob   (SERVER; stored with the job)
          ├ queue-core: publish job.created → webhooks/realtime: process job.created
          ├ queue-core: job.claim     (links to the worker's claim request, another trace)
          ├ queue-core: job.complete  (links to the worker's complete request)
          └ queue-core: publish job.completed
            ├ realtime: process job.completed   (someone is listening: an SSE stream)
            └ webhooks: process job.completed
              └ webhooks: deliver job.completed  (the completion webhook POST)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import httpx
import pytest
from spooled.grpc.stubs import EnqueueRequest, QueueServiceStub
from spooled_testing.otlp import OtlpReceiver, ReceivedSpan
from spooled_testing.receiver import WebhookReceiver

from .conftest import API, WORKER, Org, expect, unique, wait_for
from .sse import SseClient

GATEWAY, CORE = "spooled-api-gateway", "spooled-queue-core"
WEBHOOKS, REALTIME = "spooled-webhooks", "spooled-realtime"
CREATE_JOB = "spooled.internal.v1.QueueCore/CreateJob"
#: Spans cross four processes and two batch exporters; generous on a loaded box.
TIMEOUT = 60.0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def caller_context() -> tuple[str, str, str]:
    """(traceparent, trace id, span id) of a made-up sampled caller span."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


class Tree:
    """The spans of one trace, with lookups that fail with the whole trace as evidence."""

    def __init__(self, spans: list[ReceivedSpan]) -> None:
        self.spans = spans

    def __str__(self) -> str:
        return "\n".join(
            f"  {s.service:22} {s.kind:9} {s.name:48} id={s.span_id} parent={s.parent_span_id}"
            for s in self.spans
        )

    def one(self, service: str, name: str) -> ReceivedSpan:
        found = [s for s in self.spans if s.service == service and s.name == name]
        assert len(found) == 1, f"expected one {service} {name!r} span in the trace:\n{self}"
        return found[0]

    def child(self, parent: ReceivedSpan, service: str, name: str) -> ReceivedSpan:
        span = self.one(service, name)
        assert span.parent_span_id == parent.span_id, (
            f"{service} {name!r} is not a child of {parent.service} {parent.name!r}:\n{self}"
        )
        return span


def _has(trace_id: str, *wanted: tuple[str, str]) -> object:
    def check(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
        mine = [s for s in spans if s.trace_id == trace_id]
        have = {(s.service, s.name) for s in mine}
        return mine if all(w in have for w in wanted) else None

    return check


def test_one_trace_covers_a_job_from_post_to_its_completion_webhook(
    org: Org,
    http: httpx.Client,
    otlp: OtlpReceiver,
    receiver: WebhookReceiver,
) -> None:
    queue = unique("traced")
    # Realtime fans an event out only to the streams open on it (events of
    # organizations nobody listens to are dropped unparsed, with no span).
    sse = SseClient(
        f"{org.stack.base_url}{API}/events?queue={queue}",
        {"Authorization": f"Bearer {org.api_key}"},
    )
    try:
        assert sse.connected.wait(TIMEOUT), f"no SSE stream (status {sse.status})"
        _run_traced_job(org, http, otlp, receiver, sse, queue)
    finally:
        sse.close()


def _run_traced_job(
    org: Org,
    http: httpx.Client,
    otlp: OtlpReceiver,
    receiver: WebhookReceiver,
    sse: SseClient,
    queue: str,
) -> None:
    traceparent, trace_id, caller_span = caller_context()
    r = http.post(
        "/jobs",
        json={
            "queue_name": queue,
            "payload": {"n": 1},
            "completion_webhook": receiver.url("/done"),
        },
        headers={"traceparent": traceparent},
    )
    job_id = expect(r, 201)["id"]

    # The worker, in a trace of its own.
    worker_tp, worker_trace, _ = caller_context()
    worker = {"traceparent": worker_tp}
    claimed = http.post(
        "/jobs/claim", json={"queue_name": queue, "worker_id": WORKER, "limit": 1}, headers=worker
    )
    [job] = expect(claimed, 200)["jobs"]
    assert job["id"] == job_id
    done = {"worker_id": WORKER, "lease_id": job["lease_id"], "result": {}}
    expect(http.post(f"/jobs/{job_id}/complete", json=done, headers=worker), 200)
    receiver.wait_for(lambda reqs: len(reqs) >= 1, timeout=TIMEOUT, desc="the completion webhook")

    spans = otlp.wait_until(
        _has(
            trace_id,
            (GATEWAY, "POST /api/v1/jobs"),
            (CORE, CREATE_JOB),
            (CORE, "job.claim"),
            (CORE, "job.complete"),
            (CORE, "publish job.completed"),
            (WEBHOOKS, "process job.completed"),
            (WEBHOOKS, "deliver job.completed"),
            (REALTIME, "process job.completed"),
        ),
        timeout=TIMEOUT,
        desc=f"the job's spans in trace {trace_id}",
    )
    tree = Tree(spans)
    assert {GATEWAY, CORE, WEBHOOKS} <= {s.service for s in spans}, str(tree)

    # REST into the gateway continues the caller's context.
    post = tree.one(GATEWAY, "POST /api/v1/jobs")
    assert post.parent_span_id == caller_span, str(tree)
    assert post.kind == "SERVER"
    assert post.attributes["http.request.method"] == "POST"
    assert post.attributes["http.route"] == "/api/v1/jobs"
    assert post.attributes["http.response.status_code"] == 201
    assert post.attributes["spooled.org_id"] == org.id

    # Internal gRPC: client span in the gateway, server span in queue-core.
    rpc_out = tree.child(post, GATEWAY, CREATE_JOB)
    rpc_in = tree.child(rpc_out, CORE, CREATE_JOB)
    assert (rpc_out.kind, rpc_in.kind) == ("CLIENT", "SERVER")
    for span in (rpc_out, rpc_in):
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == "spooled.internal.v1.QueueCore"
        assert span.attributes["rpc.method"] == "CreateJob"
        assert span.attributes["rpc.grpc.status_code"] == 0

    # The outbox events go out on NATS in the job's trace.
    created = tree.child(rpc_in, CORE, "publish job.created")
    completed = tree.child(rpc_in, CORE, "publish job.completed")
    for span in (created, completed):
        assert span.kind == "PRODUCER"
        assert span.attributes["messaging.system"] == "nats"
        assert span.attributes["messaging.destination.name"].startswith("spooled.events.")
        assert span.attributes["spooled.job_id"] == job_id
        assert span.attributes["spooled.queue"] == queue
        assert span.attributes["spooled.org_id"] == org.id

    # Claim and completion continue the job's trace and link to the worker's requests.
    for name in ("job.claim", "job.complete"):
        span = tree.child(rpc_in, CORE, name)
        assert span.attributes["spooled.job_id"] == job_id
        assert span.attributes["spooled.queue"] == queue
        assert span.attributes["spooled.worker_id"] == WORKER
        [(linked_trace, linked_span)] = span.links
        assert linked_trace == worker_trace
        request = otlp.wait_for_span(
            lambda s, i=linked_span: s.trace_id == worker_trace and s.span_id == i,
            timeout=TIMEOUT,
            desc=f"the request {name} links to",
        )
        assert request.service == CORE and request.kind == "SERVER", request
        # Completions are group-committed by the gateway (completions.py): one
        # CompleteJobs call carries them.
        rpc_method = {"job.claim": "ClaimJobs", "job.complete": "CompleteJobs"}[name]
        assert request.attributes["rpc.method"] == rpc_method
    # ... which continue the worker's REST calls.
    worker_calls = {
        s.name
        for s in otlp.spans
        if s.trace_id == worker_trace and s.service == GATEWAY and s.kind == "SERVER"
    }
    assert worker_calls == {"POST /api/v1/jobs/claim", "POST /api/v1/jobs/{job_id}/complete"}

    # Webhooks consumes the event in the same trace and delivers the completion webhook.
    consumed = tree.child(completed, WEBHOOKS, "process job.completed")
    assert consumed.kind == "CONSUMER"
    assert consumed.attributes["messaging.system"] == "nats"
    assert consumed.attributes["spooled.job_id"] == job_id
    delivered = tree.child(consumed, WEBHOOKS, "deliver job.completed")
    assert delivered.kind == "CLIENT"
    assert delivered.attributes["http.request.method"] == "POST"
    assert delivered.attributes["http.response.status_code"] == 200
    assert delivered.attributes["server.address"] == "127.0.0.1"
    assert delivered.attributes["spooled.job_id"] == job_id
    assert delivered.attributes["spooled.webhook.attempt"] == 1
    # Realtime fans the same event out to live streams, in the same trace.
    tree.child(completed, REALTIME, "process job.completed")
    wait_for(
        lambda: any(
            e.get("type") == "JobCompleted" and e.get("data", {}).get("job_id") == job_id
            for e in sse.envelopes()
        ),
        timeout=TIMEOUT,
        desc="the completion on the SSE stream",
    )

    # Resource attributes name each service and its version.
    for span in (post, rpc_in, delivered):
        assert span.resource["service.version"], span.resource

    # Never a payload or a result in an attribute.
    for span in spans:
        assert not any("payload" in k or "result" in k for k in span.attributes), span


def test_public_grpc_enqueue_continues_the_callers_trace(org: Org, otlp: OtlpReceiver) -> None:
    traceparent, trace_id, caller_span = caller_context()
    with grpc.insecure_channel(org.stack.grpc_address) as channel:
        reply = QueueServiceStub(channel).Enqueue(
            EnqueueRequest(queue_name=unique("traced-grpc")),
            metadata=[("x-api-key", org.api_key), ("traceparent", traceparent)],
            timeout=15,
        )
    assert reply.job_id

    method = "spooled.v1.QueueService/Enqueue"
    tree = Tree(
        otlp.wait_until(
            _has(trace_id, (GATEWAY, method), (CORE, CREATE_JOB)),
            timeout=TIMEOUT,
            desc=f"the enqueue's spans in trace {trace_id}",
        )
    )
    server = tree.one(GATEWAY, method)
    assert server.parent_span_id == caller_span, str(tree)
    assert server.kind == "SERVER"
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.method"] == "Enqueue"
    assert server.attributes["spooled.org_id"] == org.id
    rpc_out = tree.child(server, GATEWAY, CREATE_JOB)
    tree.child(rpc_out, CORE, CREATE_JOB)
