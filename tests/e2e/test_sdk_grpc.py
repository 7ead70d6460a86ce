"""The SDK's gRPC client (`spooled.v1`, SDK.md §5, API.md §13) against the gateway.

Only the SDK's own stubs are loaded in this process (never ``spooled_proto.spooled.v1``).
"""

from __future__ import annotations

import queue as queue_mod
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from spooled import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    SpooledClient,
    ValidationError,
)
from spooled.errors import is_lease_expired
from spooled.grpc import SpooledGrpcClient

from .conftest import Org, unique, wait_for


@pytest.fixture(scope="module")
def g(org: Org) -> Iterator[SpooledGrpcClient]:
    c = SpooledGrpcClient(address=org.stack.grpc_address, api_key=org.api_key, timeout=15)
    assert c.wait_for_ready(10), "gRPC channel to the gateway did not become ready"
    yield c
    c.close()


@pytest.fixture(scope="module")
def wid(g: SpooledGrpcClient) -> str:
    """A worker registered over gRPC, used as the worker id of dequeues."""
    return g.workers.register(unique("grpc-q"), "grpc-host", worker_id=unique("gw")).worker_id


def test_enqueue_is_idempotent_and_get_job(
    g: SpooledGrpcClient, client: SpooledClient, org: Org
) -> None:
    q, key = unique("genq"), unique("gk")
    a = g.queue.enqueue(
        q,
        {"to": "x@example.com", "n": 1},
        priority=5,
        max_retries=4,
        timeout_seconds=77,
        idempotency_key=key,
        tags={"team": "core"},
    )
    b = g.queue.enqueue(q, {"other": True}, idempotency_key=key)
    assert a.created is True and a.job_id
    assert b.created is False and b.job_id == a.job_id

    got = g.queue.get_job(a.job_id).job
    assert got is not None
    assert (got.id, got.queue_name, got.status) == (a.job_id, q, "pending")
    assert got.payload == {"to": "x@example.com", "n": 1}
    assert (got.priority, got.max_retries, got.timeout_seconds) == (5, 4, 77)
    assert got.organization_id == org.id and got.idempotency_key == key

    rest = client.jobs.get(a.job_id)
    assert rest.tags == {"team": "core"} and rest.payload == {"to": "x@example.com", "n": 1}
    assert _get_job_or_none(g, "00000000-0000-4000-8000-000000000000") is None


def _get_job_or_none(g: SpooledGrpcClient, job_id: str) -> object:
    """An unknown id: upstream answers with an empty response (``job=None``); NOT_FOUND
    is accepted as well."""
    try:
        return g.queue.get_job(job_id).job
    except NotFoundError:
        return None


def test_dequeue_and_complete(g: SpooledGrpcClient, wid: str, client: SpooledClient) -> None:
    q = unique("gdeq")
    job_id = g.queue.enqueue(q, {"n": 7}).job_id
    jobs = g.queue.dequeue(q, wid, batch_size=5, lease_duration_secs=30).jobs
    assert [j.id for j in jobs] == [job_id]
    job = jobs[0]
    assert job.status == "processing" and job.lease_id and job.payload == {"n": 7}
    assert job.assigned_worker_id == wid
    assert job.lease_expires_at is not None
    assert g.queue.dequeue(q, wid).jobs == [], "a leased job is not handed out twice"

    assert g.queue.complete(job_id, wid, {"sum": 14}, lease_id=job.lease_id).success is True
    rest = client.jobs.get(job_id)
    assert (rest.status, rest.result) == ("completed", {"sum": 14})
    with pytest.raises(ConflictError) as exc:
        g.queue.complete(job_id, wid, {"sum": 0}, lease_id=job.lease_id)
    assert not is_lease_expired(exc.value), "a finished job is a plain conflict"
    assert client.jobs.get(job_id).result == {"sum": 14}


def test_fail_with_retry_then_without(
    g: SpooledGrpcClient, wid: str, client: SpooledClient
) -> None:
    q = unique("gfail")
    job_id = g.queue.enqueue(q, {}, max_retries=3).job_id
    [job] = g.queue.dequeue(q, wid).jobs
    r = g.queue.fail(job_id, wid, "transient", retry=True, lease_id=job.lease_id)
    assert r.success is True and r.will_retry is True and r.next_retry_delay_secs >= 1
    got = g.queue.get_job(job_id).job
    assert got is not None
    assert (got.status, got.retry_count, got.last_error) == ("pending", 1, "transient")

    # The retry becomes claimable after its backoff; then give up on it explicitly.
    again = wait_for(lambda: g.queue.dequeue(q, wid).jobs, timeout=15, desc="retry claimable")
    assert [j.id for j in again] == [job_id] and again[0].retry_count == 1
    assert again[0].lease_id != job.lease_id
    r = g.queue.fail(job_id, wid, "fatal", retry=False, lease_id=again[0].lease_id)
    assert r.success is True and r.will_retry is False
    rest = client.jobs.get(job_id)
    assert (rest.status, rest.last_error) == ("deadletter", "fatal")
    assert job_id in {s.id for s in client.jobs.dlq.list({"queue_name": q})}


def test_renew_lease(g: SpooledGrpcClient, wid: str, client: SpooledClient) -> None:
    q = unique("grenew")
    job_id = g.queue.enqueue(q, {}).job_id
    [job] = g.queue.dequeue(q, wid, lease_duration_secs=10).jobs
    assert job.lease_expires_at is not None
    r = g.queue.renew_lease(job_id, wid, 600, lease_id=job.lease_id)
    assert r.success is True and r.new_expires_at is not None
    assert r.new_expires_at >= job.lease_expires_at + timedelta(seconds=500)
    rest = client.jobs.get(job_id)
    assert rest.lease_expires_at is not None
    assert abs((rest.lease_expires_at - r.new_expires_at).total_seconds()) < 1
    assert g.queue.complete(job_id, wid, lease_id=job.lease_id).success is True


def test_queue_stats(g: SpooledGrpcClient, wid: str) -> None:
    q = unique("gstats")
    ids = [g.queue.enqueue(q, {"i": i}).job_id for i in range(4)]
    [done] = g.queue.dequeue(q, wid).jobs
    g.queue.complete(done.id, wid, lease_id=done.lease_id)
    g.queue.dequeue(q, wid)  # one stays processing
    s = g.queue.get_queue_stats(q)
    assert s.queue_name == q
    assert (s.pending, s.processing, s.completed, s.deadletter, s.total) == (2, 1, 1, 0, 4), s
    assert len(ids) == 4


def test_stream_jobs_receives_job_enqueued_after_opening(
    g: SpooledGrpcClient, wid: str, client: SpooledClient
) -> None:
    q = unique("gstream")
    stream = g.queue.stream_jobs(q, wid, lease_duration_secs=30)
    received: queue_mod.Queue[object] = queue_mod.Queue()

    def reader() -> None:
        try:
            for job in stream:
                received.put(job)
                return
        except Exception as exc:
            received.put(exc)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        time.sleep(1.0)  # the stream is open and idle before the job exists
        assert received.empty(), f"stream yielded before any job existed: {received.get()!r}"
        job_id = g.queue.enqueue(q, {"hello": "stream"}).job_id
        try:
            got = received.get(timeout=15)
        except queue_mod.Empty:
            raise AssertionError("StreamJobs did not deliver the new job within 15 s") from None
        assert not isinstance(got, Exception), f"stream failed: {got!r}"
        assert got.id == job_id and got.lease_id  # type: ignore[attr-defined]
        assert got.payload == {"hello": "stream"}  # type: ignore[attr-defined]
        assert client.jobs.get(job_id).status == "processing"
        assert g.queue.complete(job_id, wid, lease_id=got.lease_id).success  # type: ignore[attr-defined]
        assert client.jobs.get(job_id).status == "completed"
    finally:
        stream.cancel()
        t.join(5)


def test_workers_register_heartbeat_deregister(g: SpooledGrpcClient, client: SpooledClient) -> None:
    q, worker_id = unique("gw-q"), unique("gworker")
    reg = g.workers.register(
        q, "grpc-host-1", max_concurrency=2, metadata={"zone": "z1"}, worker_id=worker_id
    )
    assert reg.worker_id == worker_id
    assert reg.lease_duration_secs > 0 and reg.heartbeat_interval_secs > 0
    w = client.workers.get(worker_id)
    assert (w.queue_name, w.hostname, w.status, w.max_concurrency) == (
        q,
        "grpc-host-1",
        "healthy",
        2,
    )

    hb = g.workers.heartbeat(worker_id, current_jobs=1, status="degraded")
    assert hb.acknowledged is True and hb.should_drain is False
    w = client.workers.get(worker_id)
    assert (w.status, w.current_jobs) == ("degraded", 1)

    assert g.workers.deregister(worker_id).success is True
    assert client.workers.get(worker_id).status == "offline"
    minted = g.workers.register(q, "grpc-host-2")
    assert minted.worker_id and minted.worker_id != worker_id


def test_wrong_lease_is_lease_expired(
    g: SpooledGrpcClient, wid: str, client: SpooledClient
) -> None:
    q = unique("gwrong")
    job_id = g.queue.enqueue(q, {}).job_id
    [job] = g.queue.dequeue(q, wid).jobs
    with pytest.raises(ConflictError) as exc:
        g.queue.complete(job_id, wid, {"x": 1}, lease_id="not-" + (job.lease_id or ""))
    assert is_lease_expired(exc.value), exc.value
    with pytest.raises(ValidationError):
        g.queue.complete(job_id, wid, {"x": 1}, lease_id="")
    assert client.jobs.get(job_id).status == "processing"
    assert g.queue.complete(job_id, wid, {"x": 2}, lease_id=job.lease_id).success
    assert client.jobs.get(job_id).result == {"x": 2}


def test_stale_lease_is_lease_expired(
    g: SpooledGrpcClient, wid: str, client: SpooledClient
) -> None:
    q = unique("gstale")
    job_id = g.queue.enqueue(q, {}, max_retries=3).job_id
    [job] = g.queue.dequeue(q, wid, lease_duration_secs=5).jobs
    assert job.lease_expires_at is not None
    time.sleep(max(0.0, (job.lease_expires_at - datetime.now(UTC)).total_seconds()) + 1)

    with pytest.raises(ConflictError) as exc:
        g.queue.complete(job_id, wid, {"late": True}, lease_id=job.lease_id)
    assert is_lease_expired(exc.value), exc.value
    with pytest.raises(ConflictError) as exc:
        g.queue.renew_lease(job_id, wid, 30, lease_id=job.lease_id)
    assert is_lease_expired(exc.value), exc.value
    assert client.jobs.get(job_id).status != "completed"

    # Whoever holds the job next can finish it; the stale holder never could.
    again = wait_for(
        lambda: g.queue.dequeue(q, wid).jobs, timeout=30, desc="expired lease requeued"
    )
    assert [j.id for j in again] == [job_id] and again[0].lease_id != job.lease_id
    assert g.queue.complete(job_id, wid, {"on_time": True}, lease_id=again[0].lease_id).success
    rest = client.jobs.get(job_id)
    assert (rest.status, rest.result) == ("completed", {"on_time": True})
    assert rest.retry_count >= 1, "an expired lease counts as a retry"


def test_bad_api_key_is_unauthenticated(org: Org) -> None:
    with SpooledGrpcClient(
        address=org.stack.grpc_address, api_key="sp_test_" + secrets.token_urlsafe(32), timeout=10
    ) as bad:
        with pytest.raises(AuthenticationError):
            bad.queue.enqueue("anything", {})
        with pytest.raises(AuthenticationError):
            bad.queue.get_queue_stats("anything")
