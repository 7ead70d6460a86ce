"""`SpooledWorker` (the SDK's REST worker, SDK.md §3) against the running suite."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spooled import SpooledClient, SpooledWorker
from spooled.config import RetryConfig
from spooled.worker.types import JobContext

from .conftest import Db, Org, unique, wait_for


@contextmanager
def running(worker: SpooledWorker) -> Iterator[dict[str, Any]]:
    """Run ``worker.start()`` in a thread; stop it cleanly on exit."""
    info: dict[str, Any] = {"errors": [], "crash": None}
    worker.on("started", lambda e: info.__setitem__("worker_id", e.worker_id))
    worker.on("error", lambda e: info["errors"].append(e.error))

    def target() -> None:
        try:
            worker.start()
        except Exception as exc:  # surfaced by the test below
            info["crash"] = exc

    t = threading.Thread(target=target, daemon=True, name="sdk-worker")
    t.start()
    wait_for(lambda: info.get("worker_id") or info["crash"], timeout=30, desc="worker start")
    assert info["crash"] is None, f"worker failed to start: {info['crash']!r}"
    try:
        yield info
    finally:
        worker.stop()
        t.join(40)
        assert not t.is_alive(), "worker did not stop"


def _worker_client(org: Org) -> SpooledClient:
    # A worker should ride out a transient error like a real deployment would.
    return org.client(retry=RetryConfig(max_retries=2, base_delay=0.2, jitter=False))


def _statuses(client: SpooledClient, ids: list[str]) -> dict[str, str]:
    return {s.id: s.status for s in client.jobs.batch_status(ids)}


def test_worker_processes_jobs_to_completed(org: Org, client: SpooledClient, db: Db) -> None:
    q, n = unique("work"), 20
    res = client.jobs.bulk_enqueue(
        {"queue_name": q, "jobs": [{"payload": {"n": i}} for i in range(n)]}
    )
    assert res.success_count == n
    ids = [s.job_id for s in sorted(res.succeeded, key=lambda s: s.index)]

    calls: list[str] = []
    lock = threading.Lock()
    worker = SpooledWorker(
        _worker_client(org),
        queue_name=q,
        concurrency=4,
        poll_interval=0.2,
        lease_duration=10,
        shutdown_timeout=10,
    )
    completed_events: list[str] = []
    worker.on("job:completed", lambda e: completed_events.append(e.job_id))

    @worker.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        with lock:
            calls.append(ctx.job_id)
        time.sleep(0.05)
        return {"doubled": ctx.payload["n"] * 2, "job": ctx.job_id}

    with running(worker) as info:
        wait_for(
            lambda: set(_statuses(client, ids).values()) == {"completed"},
            timeout=60,
            desc="all jobs completed",
        )
    wid = info["worker_id"]

    assert Counter(calls) == Counter(ids), "each job handled exactly once"
    assert sorted(completed_events) == sorted(ids)
    for i, job_id in enumerate(ids):
        job = client.jobs.get(job_id)
        assert job.status == "completed" and job.completed_at is not None
        assert job.result == {"doubled": 2 * i, "job": job_id}
        assert job.retry_count == 0

    rows = db.fetch("SELECT id, status, result FROM core.jobs WHERE queue_name = $1", q, org=org.id)
    assert len(rows) == n
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["id"]: r["result"]["doubled"] for r in rows} == {
        job_id: 2 * i for i, job_id in enumerate(ids)
    }

    stats = client.queues.get_stats(q)
    assert (stats.pending_jobs, stats.processing_jobs, stats.completed_jobs_24h) == (0, 0, n)
    assert client.workers.get(wid).status == "offline", "stop() deregisters the worker"
    assert not info["errors"], info["errors"]


def test_worker_failures_retry_with_backoff_then_deadletter(
    org: Org, client: SpooledClient
) -> None:
    q = unique("fail")
    doomed = [
        client.jobs.create({"queue_name": q, "payload": {"mode": "fail"}, "max_retries": 2}).id
        for _ in range(2)
    ]
    flaky = client.jobs.create({"queue_name": q, "payload": {"mode": "flaky"}, "max_retries": 2}).id

    attempts: dict[str, list[tuple[int, float]]] = defaultdict(list)
    lock = threading.Lock()
    worker = SpooledWorker(
        _worker_client(org),
        queue_name=q,
        concurrency=3,
        poll_interval=0.1,
        lease_duration=10,
        shutdown_timeout=10,
    )

    @worker.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        with lock:
            attempts[ctx.job_id].append((ctx.retry_count, time.monotonic()))
        if ctx.payload["mode"] == "flaky" and ctx.retry_count >= 1:
            return {"attempt": ctx.retry_count}
        raise RuntimeError(f"boom {ctx.retry_count}")

    with running(worker):
        wait_for(
            lambda: (
                _statuses(client, [*doomed, flaky])
                == {doomed[0]: "deadletter", doomed[1]: "deadletter", flaky: "completed"}
            ),
            timeout=45,
            desc="two jobs dead-lettered and one completed",
        )

    for job_id in doomed:
        seen = attempts[job_id]
        assert [rc for rc, _ in seen] == [0, 1, 2], f"{job_id}: 1 try + 2 retries, got {seen}"
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(seen)]
        assert gaps[0] >= 0.9 and gaps[1] >= 1.8, f"backoff 1 s then 2 s expected, gaps {gaps}"
        job = client.jobs.get(job_id)
        assert (job.status, job.retry_count, job.last_error) == ("deadletter", 2, "boom 2")
    assert set(doomed) <= {s.id for s in client.jobs.dlq.list({"queue_name": q})}

    assert [rc for rc, _ in attempts[flaky]] == [0, 1]
    job = client.jobs.get(flaky)
    assert (job.status, job.retry_count, job.result) == ("completed", 1, {"attempt": 1})
