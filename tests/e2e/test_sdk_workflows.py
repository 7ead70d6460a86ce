"""The official SDK's ``client.workflows`` (and ``client.workflows.jobs``, job dependencies)
against the running suite (SDK.md §2, API.md §9, §4).

The diamond A → (B, C) → D is driven by real claims: the SDK's REST ``jobs.claim`` /
``complete`` / ``fail`` in most tests, an ``SpooledWorker`` in one. Outcomes are checked
through the SDK and, for "nothing stored", in the database as the application role.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from spooled import (
    ConflictError,
    NotFoundError,
    SpooledClient,
    SpooledWorker,
    ValidationError,
)
from spooled.config import RetryConfig
from spooled.worker.types import JobContext

from .conftest import WORKER, Db, Org, claim, expect, unique, wait_for


def diamond(prefix: str, *, mode: str = "all", b_retries: int | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"key": "b", "queue_name": f"{prefix}-bc", "payload": {"step": "b"}}
    b["depends_on"] = ["a"]
    if b_retries is not None:
        b["max_retries"] = b_retries
    return {
        "name": f"diamond {prefix}",
        "description": "A, then B and C, then D",
        "metadata": {"run": prefix},
        "jobs": [
            {"key": "a", "queue_name": f"{prefix}-a", "payload": {"step": "a"}},
            b,
            {
                "key": "c",
                "queue_name": f"{prefix}-bc",
                "payload": {"step": "c"},
                "depends_on": ["a"],
            },
            {
                "key": "d",
                "queue_name": f"{prefix}-d",
                "payload": {"step": "d"},
                "depends_on": ["b", "c"],
                "dependency_mode": mode,
            },
        ],
    }


def create(client: SpooledClient, body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    r = client.workflows.create(body)
    assert r.status == "pending", r
    return r.workflow_id, {m.key: m.job_id for m in r.job_ids}


def settle(client: SpooledClient, queue: str, expect_ids: list[str], *, error: str = "") -> None:
    """Claim what is ready on ``queue`` (exactly ``expect_ids``) and complete (or fail) it."""
    got = claim(client, queue, limit=10)
    assert sorted(j.id for j in got) == sorted(expect_ids), f"{queue}: claimed {got!r}"
    for j in got:
        if error:
            client.jobs.fail(j.id, {"worker_id": WORKER, "error": error, "lease_id": j.lease_id})
        else:
            client.jobs.complete(
                j.id, {"worker_id": WORKER, "result": {"done": j.id}, "lease_id": j.lease_id}
            )


def statuses(client: SpooledClient, wf_id: str) -> dict[str, str]:
    return {s.job_id: s.status for s in client.workflows.jobs.get_status(wf_id)}


# -- the diamond -------------------------------------------------------------------------
def test_diamond_runs_in_order(client: SpooledClient, org: Org) -> None:
    p = unique("dia")
    wf_id, ids = create(client, diamond(p))
    settle(client, f"{p}-bc", [])
    settle(client, f"{p}-d", [])
    settle(client, f"{p}-a", [ids["a"]])
    assert client.workflows.get(wf_id).status == "running"
    settle(client, f"{p}-d", [])
    settle(client, f"{p}-bc", [ids["b"], ids["c"]])
    settle(client, f"{p}-d", [ids["d"]])

    wf = client.workflows.get(wf_id)
    assert (wf.status, wf.total_jobs, wf.completed_jobs, wf.failed_jobs) == ("completed", 4, 4, 0)
    assert wf.progress_percent == 100.0
    assert wf.name == f"diamond {p}" and wf.metadata == {"run": p}
    assert wf.started_at is not None and wf.completed_at is not None
    jobs = {j.id: j for j in client.jobs.batch_status(list(ids.values()))}
    assert {jobs[i].status for i in ids.values()} == {"completed"}
    # Each job started only after what it depends on had completed.
    full = {k: client.jobs.get(v) for k, v in ids.items()}
    assert full["a"].completed_at <= full["b"].started_at
    assert full["a"].completed_at <= full["c"].started_at
    assert max(full["b"].completed_at, full["c"].completed_at) <= full["d"].started_at
    assert all(j.workflow_id == wf_id for j in full.values())


def test_workflow_jobs_resource(client: SpooledClient) -> None:
    p = unique("wjobs")
    wf_id, ids = create(client, diamond(p))
    jobs = client.workflows.jobs.list(wf_id)
    assert [j.id for j in jobs] == [ids[k] for k in "abcd"]
    assert [j.key for j in jobs] == ["a", "b", "c", "d"]
    by_key = {j.key: j for j in jobs}
    assert by_key["d"].depends_on == [ids["b"], ids["c"]]
    assert by_key["d"].dependency_mode == "all"
    assert (by_key["a"].queue_name, by_key["a"].timeout_seconds) == (f"{p}-a", 300)
    assert by_key["b"].payload == {"step": "b"} and by_key["b"].workflow_id == wf_id
    one = client.workflows.jobs.get(wf_id, ids["c"])
    assert (one.key, one.status) == ("c", "pending")
    with pytest.raises(NotFoundError):
        client.workflows.jobs.get(wf_id, "not-in-this-workflow")
    assert {s.key: s.status for s in client.workflows.jobs.get_status(wf_id)} == dict.fromkeys(
        "abcd", "pending"
    )
    deps = client.workflows.jobs.get_dependencies(ids["d"])
    assert {(d.job_id, d.status, d.completed) for d in deps.dependencies} == {
        (ids["b"], "pending", False),
        (ids["c"], "pending", False),
    }
    assert (deps.dependents, deps.dependencies_met) == ([], False)
    assert [d.job_id for d in client.workflows.jobs.get_dependencies(ids["a"]).dependents] == [
        ids["b"],
        ids["c"],
    ]


def test_failed_b_cancels_d_and_retry_reruns_only_those(client: SpooledClient) -> None:
    p = unique("fail")
    wf_id, ids = create(client, diamond(p, b_retries=0))
    settle(client, f"{p}-a", [ids["a"]])
    got = {j.id: j for j in claim(client, f"{p}-bc", limit=2)}
    client.jobs.fail(
        ids["b"],
        {"worker_id": WORKER, "error": "transform failed", "lease_id": got[ids["b"]].lease_id},
    )
    d = client.jobs.get(ids["d"])
    assert (d.status, d.last_error) == ("cancelled", "Parent job failed or was deadlettered")
    assert client.workflows.get(wf_id).status == "running", "C is still running"
    client.jobs.complete(ids["c"], {"worker_id": WORKER, "lease_id": got[ids["c"]].lease_id})

    wf = client.workflows.get(wf_id)
    assert wf.status == "failed"
    assert [w.id for w in client.workflows.list({"status": "failed"})] == [wf_id]
    assert statuses(client, wf_id) == {
        ids["a"]: "completed",
        ids["b"]: "deadletter",
        ids["c"]: "completed",
        ids["d"]: "cancelled",
    }
    by_key = {j.key: j for j in client.workflows.jobs.list(wf_id)}
    assert by_key["b"].error is not None and by_key["b"].error.message == "transform failed"
    a_before = client.jobs.get(ids["a"])

    retried = client.workflows.retry(wf_id)
    assert retried.status == "running"
    assert statuses(client, wf_id) == {
        ids["a"]: "completed",
        ids["b"]: "pending",
        ids["c"]: "completed",
        ids["d"]: "pending",
    }
    settle(client, f"{p}-a", [])
    settle(client, f"{p}-d", [])
    settle(client, f"{p}-bc", [ids["b"]])
    settle(client, f"{p}-d", [ids["d"]])
    assert client.workflows.get(wf_id).status == "completed"
    a_after = client.jobs.get(ids["a"])
    assert (a_after.completed_at, a_after.result) == (a_before.completed_at, a_before.result)
    assert client.jobs.get(ids["b"]).retry_count == 0


def test_retry_needs_a_failed_workflow(client: SpooledClient) -> None:
    wf_id, _ = create(client, diamond(unique("noretry")))
    with pytest.raises(ValidationError) as caught:
        client.workflows.retry(wf_id)
    assert "Only failed workflows can be retried" in str(caught.value.message)


def test_any_mode(client: SpooledClient) -> None:
    p = unique("any")
    wf_id, ids = create(client, diamond(p, mode="any"))
    settle(client, f"{p}-a", [ids["a"]])
    [first, second] = claim(client, f"{p}-bc", limit=2)
    client.jobs.complete(first.id, {"worker_id": WORKER, "lease_id": first.lease_id})
    # D is released by the first branch while the second is still processing.
    settle(client, f"{p}-d", [ids["d"]])
    client.jobs.complete(second.id, {"worker_id": WORKER, "lease_id": second.lease_id})
    assert client.workflows.get(wf_id).status == "completed"


def test_cancel(client: SpooledClient) -> None:
    p = unique("cancel")
    wf_id, ids = create(client, diamond(p))
    [a] = claim(client, f"{p}-a")
    wf = client.workflows.cancel(wf_id)
    assert wf.status == "cancelled"
    assert statuses(client, wf_id) == {
        ids["a"]: "processing",
        ids["b"]: "cancelled",
        ids["c"]: "cancelled",
        ids["d"]: "cancelled",
    }
    client.jobs.complete(a.id, {"worker_id": WORKER, "lease_id": a.lease_id})
    settle(client, f"{p}-bc", [])
    wf = client.workflows.get(wf_id)
    assert (wf.status, wf.completed_jobs) == ("cancelled", 1)
    with pytest.raises(ConflictError):
        client.workflows.cancel(wf_id)


def test_list_pages_newest_first(fresh_org: Org) -> None:
    client = fresh_org.client()
    made = [create(client, {"name": f"w{i}", "jobs": [_job("x")]})[0] for i in range(3)]
    assert [w.id for w in client.workflows.list()] == made[::-1]
    assert [w.id for w in client.workflows.list({"limit": 1, "offset": 1})] == [made[1]]
    assert client.workflows.list({"status": "completed"}) == []


# -- an SDK worker runs the DAG ------------------------------------------------------------
@contextmanager
def _running(worker: SpooledWorker) -> Iterator[None]:
    started = threading.Event()
    worker.on("started", lambda _e: started.set())
    t = threading.Thread(target=worker.start, daemon=True, name="wf-worker")
    t.start()
    assert started.wait(30), "worker did not start"
    try:
        yield
    finally:
        worker.stop()
        t.join(40)


def test_sdk_worker_runs_the_dag_in_dependency_order(org: Org, client: SpooledClient) -> None:
    q = unique("wfworker")
    body = diamond("unused")
    for j in body["jobs"]:
        j["queue_name"] = q
    wf_id, ids = create(client, body)
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()
    worker = SpooledWorker(
        org.client(retry=RetryConfig(max_retries=2, base_delay=0.2, jitter=False)),
        queue_name=q,
        concurrency=4,
        poll_interval=0.2,
        lease_duration=10,
        shutdown_timeout=10,
    )

    @worker.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        start = time.monotonic()
        time.sleep(0.1)
        with lock:
            spans[ctx.payload["step"]] = (start, time.monotonic())
        return {"step": ctx.payload["step"]}

    with _running(worker):
        wait_for(
            lambda: client.workflows.get(wf_id).status == "completed",
            timeout=60,
            desc="workflow completed",
        )
    assert set(spans) == {"a", "b", "c", "d"}
    assert spans["a"][1] <= min(spans["b"][0], spans["c"][0])
    assert max(spans["b"][1], spans["c"][1]) <= spans["d"][0]
    assert client.jobs.get(ids["d"]).result == {"step": "d"}


# -- single-job dependencies -------------------------------------------------------------
def test_add_dependencies_to_a_job(client: SpooledClient) -> None:
    q = unique("adddeps")
    first = client.jobs.create({"queue_name": f"{q}-1", "payload": {}}).id
    second = client.jobs.create({"queue_name": f"{q}-1", "payload": {}}).id
    job = client.jobs.create({"queue_name": q, "payload": {}}).id
    r = client.workflows.jobs.add_dependencies(
        job, {"dependency_job_ids": [first, second], "dependency_mode": "all"}
    )
    assert (r.added_count, r.dependencies_met) == (2, False)
    assert claim(client, q) == []
    settle(client, f"{q}-1", [first, second])
    assert client.workflows.jobs.get_dependencies(job).dependencies_met is True
    settle(client, q, [job])
    with pytest.raises(NotFoundError):
        client.workflows.jobs.add_dependencies(
            client.jobs.create({"queue_name": q, "payload": {}}).id,
            {"dependency_job_ids": ["00000000-0000-4000-8000-000000000000"]},
        )


def test_parent_job_id_on_create(client: SpooledClient) -> None:
    q = unique("parent")
    parent = client.jobs.create({"queue_name": q, "payload": {"p": 1}}).id
    child = client.jobs.create({"queue_name": q, "payload": {"c": 1}, "parent_job_id": parent}).id
    deps = client.workflows.jobs.get_dependencies(child)
    assert [d.job_id for d in deps.dependencies] == [parent] and not deps.dependencies_met
    settle(client, q, [parent])
    settle(client, q, [child])


# -- bad input: 400 with a clear message, nothing stored ---------------------------------
def _job(key: str, *deps: str, queue: str = "bad-input") -> dict[str, Any]:
    return {"key": key, "queue_name": queue, "payload": {}, "depends_on": list(deps)}


_TABLES = ("core.workflows", "core.jobs", "core.job_dependencies")


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([_job("a", "b"), _job("b", "a")], "Circular dependency detected in workflow"),
        ([_job("a", "c"), _job("b", "a"), _job("c", "b")], "Circular dependency detected"),
        ([_job("a", "ghost")], "Job 'a' depends on unknown job 'ghost'"),
        ([_job("a"), _job("a")], "Duplicate job key 'a' in workflow"),
        ([_job(f"k{i}") for i in range(101)], "at most 100 jobs"),
    ],
    ids=["cycle", "cycle-3", "unknown-key", "duplicate-keys", "101-jobs"],
)
def test_bad_workflow_is_400_and_stores_nothing(
    fresh_org: Org, db: Db, jobs: list[dict[str, Any]], message: str
) -> None:
    client = fresh_org.client()
    with pytest.raises(ValidationError) as caught:
        client.workflows.create({"name": "bad", "jobs": jobs})
    assert caught.value.status_code == 400
    assert message in caught.value.message or message in str(caught.value), caught.value
    for table in _TABLES:
        count = db.fetchval(
            f"SELECT count(*) FROM {table} WHERE organization_id = $1",
            fresh_org.id,
            org=fresh_org.id,
        )
        assert count == 0, table


def test_bad_fields_the_sdk_would_refuse(http: httpx.Client) -> None:
    """Raw HTTP, for shapes the SDK's own models reject before sending."""
    for body in (
        {"name": "x", "jobs": [{"key": "a b", "queue_name": "q", "payload": {}}]},
        {"name": "x", "jobs": [{"key": "a", "queue_name": "q", "payload": {}, "priority": 999}]},
        {"name": "x", "jobs": [{"key": "a", "queue_name": "q"}]},
        {"name": "", "jobs": [{"key": "a", "queue_name": "q", "payload": {}}]},
    ):
        doc = expect(http.post("/workflows", json=body), 400, "VALIDATION_ERROR")
        assert doc["message"], doc


# -- tenancy -----------------------------------------------------------------------------
def test_other_orgs_workflows_are_not_found(
    client: SpooledClient, make_org: Callable[..., Org]
) -> None:
    p = unique("tenancy")
    wf_id, ids = create(client, diamond(p))
    other = make_org("wf-other").client()
    for call in (other.workflows.get, other.workflows.cancel, other.workflows.retry):
        with pytest.raises(NotFoundError):
            call(wf_id)
    with pytest.raises(NotFoundError):
        other.workflows.jobs.get_dependencies(ids["a"])
    assert wf_id not in {w.id for w in other.workflows.list()}
    assert client.workflows.get(wf_id).status == "pending"
