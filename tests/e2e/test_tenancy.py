"""Tenant isolation: organization B, holding only its own key, uses organization A's ids.

Every route must answer as if A's resource did not exist (404, or 403) and leave A's data
exactly as it was. Row-level security is checked directly in Postgres as the app role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from spooled import AuthorizationError, ConflictError, NotFoundError, SpooledClient
from spooled.grpc import SpooledGrpcClient

from .conftest import Db, Org, claim, describe, expect, make_deadletter, unique

DENIED = {403, 404}


@dataclass
class World:
    a: Org
    b: Org
    ca: SpooledClient
    hb: httpx.Client
    queue: str
    #: A queue of A's that holds a job but has no configuration row.
    queue2: str
    job: str
    idem_key: str
    dead: str
    proc: str
    proc_lease: str
    worker: str
    key_id: str
    key: str


@pytest.fixture(scope="module")
def world(make_org: Callable[..., Org]) -> World:
    a, b = make_org("tenant-a"), make_org("tenant-b")
    ca = a.client()
    q, worker, key = unique("a-queue"), unique("a-worker"), unique("a-idem")
    q2 = unique("a-unconfigured")
    ca.jobs.create({"queue_name": q2, "payload": {"in": "q2"}})
    ca.workers.register({"queue_name": q, "hostname": "a-host", "worker_id": worker})
    dead = make_deadletter(ca, q)
    proc = ca.jobs.create({"queue_name": q, "payload": {"p": 1}, "priority": 50}).id
    [claimed] = claim(ca, q, worker_id=worker, lease=900)
    assert claimed.id == proc
    job = ca.jobs.create({"queue_name": q, "payload": {"secret": "a"}, "idempotency_key": key}).id
    ca.queues.update_config(q, {"max_retries": 7})
    k = ca.api_keys.create({"name": "a second key"})
    return World(
        a=a,
        b=b,
        ca=ca,
        hb=b.http(),
        queue=q,
        queue2=q2,
        job=job,
        idem_key=key,
        dead=dead,
        proc=proc,
        proc_lease=claimed.lease_id,
        worker=worker,
        key_id=k.id,
        key=k.key,
    )


def snapshot(w: World) -> dict[str, Any]:
    """Everything of A's that B's calls could have touched, as A sees it."""
    c = w.ca

    def job(i: str) -> tuple[Any, ...]:
        j = c.jobs.get(i)
        return (
            j.status,
            j.priority,
            j.payload,
            j.result,
            j.retry_count,
            j.lease_id,
            j.lease_expires_at,
            j.last_error,
        )

    worker = c.workers.get(w.worker)
    key = c.api_keys.get(w.key_id)
    cfg = c.queues.get(w.queue)
    try:
        cfg2: Any = c.queues.get(w.queue2)
    except NotFoundError:
        cfg2 = None
    stats2 = c.queues.get_stats(w.queue2)
    return {
        "job": job(w.job),
        "dead": job(w.dead),
        "proc": job(w.proc),
        "queue": (cfg.enabled, cfg.max_retries, cfg.default_timeout),
        "queue2": (cfg2, stats2.pending_jobs, stats2.processing_jobs),
        "worker": (worker.status, worker.current_jobs, worker.hostname, worker.queue_name),
        "key": (key.name, key.is_active, key.queues),
        "org": c.organizations.get(w.a.id).name,
        "dlq": sorted(s.id for s in c.jobs.dlq.list({"queue_name": w.queue})),
        "jobs": sorted(s.id for s in c.jobs.list({"queue_name": w.queue})),
        "keys": sorted((k.id, k.is_active) for k in c.api_keys.list()),
        "second_key_works": w.a.client(api_key=w.key).jobs.get(w.job).id == w.job,
    }


@pytest.fixture(scope="module")
def baseline(world: World) -> dict[str, Any]:
    return snapshot(world)


def _empty_list(doc: Any) -> bool:
    return doc == []


def _zero(field: str) -> Callable[[Any], bool]:
    return lambda doc: doc is None or doc.get(field) == 0


@dataclass
class Route:
    name: str
    method: str
    path: str
    body: Callable[[World], Any] | None = None
    expect: frozenset[int] = frozenset(DENIED)
    #: For routes that succeed for B (lists, counters): what B must see.
    check: Callable[[Any], bool] | None = None

    def __str__(self) -> str:
        return self.name


def _r(
    name: str,
    method: str,
    path: str,
    body: Callable[[World], Any] | None = None,
    status: set[int] | None = None,
    check: Callable[[Any], bool] | None = None,
) -> Route:
    return Route(name, method, path, body, frozenset(status or DENIED), check)


ROUTES = [
    # jobs
    _r("get job", "GET", "/jobs/{job}"),
    _r("job history", "GET", "/jobs/{job}/history"),
    _r("boost job", "PUT", "/jobs/{job}/priority", lambda w: {"priority": 99}),
    _r("cancel job", "DELETE", "/jobs/{job}"),
    _r("retry job", "POST", "/jobs/{dead}/retry"),
    _r(
        "complete job",
        "POST",
        "/jobs/{proc}/complete",
        lambda w: {"worker_id": w.worker, "lease_id": w.proc_lease, "result": {"pwned": True}},
    ),
    _r(
        "fail job",
        "POST",
        "/jobs/{proc}/fail",
        lambda w: {"worker_id": w.worker, "lease_id": w.proc_lease, "error": "pwned"},
    ),
    _r(
        "heartbeat job",
        "POST",
        "/jobs/{proc}/heartbeat",
        lambda w: {"worker_id": w.worker, "lease_id": w.proc_lease, "lease_duration_secs": 3600},
    ),
    _r(
        "batch status",
        "GET",
        "/jobs/status?ids={job},{dead},{proc}",
        status={200},
        check=_empty_list,
    ),
    _r(
        "list jobs in A's queue", "GET", "/jobs?queue_name={queue}", status={200}, check=_empty_list
    ),
    _r("list all jobs", "GET", "/jobs?limit=100", status={200}, check=_empty_list),
    _r("job stats", "GET", "/jobs/stats", status={200}, check=_zero("total")),
    _r(
        "claim from A's queue",
        "POST",
        "/jobs/claim",
        lambda w: {"queue_name": w.queue, "worker_id": "b-worker", "limit": 100},
        {200},
        lambda doc: doc == {"jobs": []},
    ),
    # dead-letter queue
    _r(
        "dlq list A's queue", "GET", "/jobs/dlq?queue_name={queue}", status={200}, check=_empty_list
    ),
    _r("dlq list", "GET", "/jobs/dlq", status={200}, check=_empty_list),
    _r(
        "dlq retry A's job",
        "POST",
        "/jobs/dlq/retry",
        lambda w: {"job_ids": [w.dead]},
        {200, 404},
        _zero("retried_count"),
    ),
    _r(
        "dlq retry A's queue",
        "POST",
        "/jobs/dlq/retry",
        lambda w: {"queue_name": w.queue},
        {200, 404},
        _zero("retried_count"),
    ),
    _r(
        "dlq purge A's queue",
        "POST",
        "/jobs/dlq/purge",
        lambda w: {"queue_name": w.queue, "confirm": True},
        {200},
        _zero("purged_count"),
    ),
    _r(
        "dlq purge all",
        "POST",
        "/jobs/dlq/purge",
        lambda w: {"confirm": True},
        {200},
        _zero("purged_count"),
    ),
    # queues (names are per organization)
    _r("get queue", "GET", "/queues/{queue}"),
    _r("list queues", "GET", "/queues", status={200}, check=lambda doc: doc == []),
    _r(
        "queue stats",
        "GET",
        "/queues/{queue}/stats",
        status={200, 404},
        check=lambda doc: doc is None or (doc["pending_jobs"], doc["processing_jobs"]) == (0, 0),
    ),
    _r("pause unconfigured queue", "POST", "/queues/{queue2}/pause", lambda w: {"reason": "x"}),
    _r("resume queue", "POST", "/queues/{queue}/resume"),
    _r("delete queue", "DELETE", "/queues/{queue}?delete_jobs=true"),
    # After resume/delete: if B's pause created a row of B's own, those two would find it.
    _r("pause queue", "POST", "/queues/{queue}/pause", lambda w: {"reason": "pwned"}),
    _r(
        "configure queue",
        "PUT",
        "/queues/{queue}/config",
        lambda w: {"max_retries": 1, "enabled": False},
        {200, 403, 404},
    ),
    # workers
    _r("get worker", "GET", "/workers/{worker}"),
    _r("list workers", "GET", "/workers", status={200}, check=_empty_list),
    _r(
        "worker heartbeat",
        "POST",
        "/workers/{worker}/heartbeat",
        lambda w: {"current_jobs": 99, "status": "draining"},
    ),
    _r("deregister worker", "POST", "/workers/{worker}/deregister"),
    _r(
        "register with A's worker id",
        "POST",
        "/workers/register",
        lambda w: {"queue_name": "b-queue", "hostname": "b-host", "worker_id": w.worker},
        {403, 409},
    ),
    # API keys
    _r("get api key", "GET", "/api-keys/{key_id}"),
    _r(
        "update api key",
        "PUT",
        "/api-keys/{key_id}",
        lambda w: {"name": "pwned", "is_active": False},
    ),
    _r("revoke api key", "DELETE", "/api-keys/{key_id}"),
    _r("revoke A's initial key", "DELETE", "/api-keys/{a_key_id}"),
    _r("list api keys", "GET", "/api-keys", status={200}, check=lambda doc: len(doc) == 1),
    # organizations
    _r("get org", "GET", "/organizations/{a_id}"),
    _r("org members", "GET", "/organizations/{a_id}/members"),
    _r("update org", "PUT", "/organizations/{a_id}", lambda w: {"name": "Pwned Org"}),
    _r("delete org", "DELETE", "/organizations/{a_id}"),
    _r("list orgs", "GET", "/organizations", status={200}, check=lambda doc: len(doc) == 1),
    _r(
        "org usage",
        "GET",
        "/organizations/usage",
        status={200},
        check=lambda doc: (
            doc["usage"]["active_jobs"]["current"] == 0
            and doc["usage"]["jobs_today"]["current"] == 0
        ),
    ),
]


def _fill(path: str, w: World) -> str:
    return path.format(
        job=w.job,
        dead=w.dead,
        proc=w.proc,
        queue=w.queue,
        queue2=w.queue2,
        worker=w.worker,
        key_id=w.key_id,
        a_key_id=w.a.api_key_id,
        a_id=w.a.id,
    )


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_other_tenant_cannot_reach(route: Route, world: World, baseline: dict[str, Any]) -> None:
    body = route.body(world) if route.body else None
    resp = world.hb.request(route.method, _fill(route.path, world), json=body)
    # Isolation first (the worse failure), then the answer B got.
    after = snapshot(world)
    changed = {k: (baseline[k], after[k]) for k in baseline if after[k] != baseline[k]}
    assert not changed, f"A's data changed after B's call: {changed}" + describe(resp)
    doc = expect(resp, set(route.expect))
    if route.check is not None and resp.status_code < 400:
        assert route.check(doc), "B saw A's data" + describe(resp)


def test_list_responses_for_b_only_hold_b(world: World) -> None:
    """The lists B gets contain B's own resources (not just 'not A's')."""
    b = world.b.client()
    assert [o.id for o in b.organizations.list()] == [world.b.id]
    assert [k.id for k in b.api_keys.list()] == [world.b.api_key_id]


def test_idempotency_key_is_per_org(world: World, baseline: dict[str, Any]) -> None:
    """B reusing A's idempotency key gets a new job of its own, never A's job id."""
    resp = world.hb.post(
        "/jobs", json={"queue_name": "b-queue", "payload": {}, "idempotency_key": world.idem_key}
    )
    doc = expect(resp, 201)
    assert doc["created"] is True and doc["id"] != world.job, describe(resp)
    assert snapshot(world) == baseline


def test_grpc_other_tenant_cannot_reach(world: World, baseline: dict[str, Any]) -> None:
    w = world
    with SpooledGrpcClient(address=w.b.stack.grpc_address, api_key=w.b.api_key, timeout=15) as g:
        # Upstream answers an unknown id with an empty response; NOT_FOUND is fine too.
        with contextlib.suppress(NotFoundError):
            assert g.queue.get_job(w.job).job is None
        calls = {
            "Complete": lambda: g.queue.complete(
                w.proc, w.worker, {"pwned": True}, lease_id=w.proc_lease
            ),
            "Fail": lambda: g.queue.fail(
                w.proc, w.worker, "pwned", retry=False, lease_id=w.proc_lease
            ),
            "RenewLease": lambda: g.queue.renew_lease(
                w.proc, w.worker, 3600, lease_id=w.proc_lease
            ),
            "Heartbeat": lambda: g.workers.heartbeat(w.worker, current_jobs=5, status="draining"),
            "Deregister": lambda: g.workers.deregister(w.worker),
        }
        answered = {}
        for name, call in calls.items():
            try:
                out = call()
            except (NotFoundError, AuthorizationError):
                continue
            except Exception as exc:
                answered[name] = repr(exc)
                continue
            # Upstream answers a worker call for an unknown id with acknowledged/success
            # false rather than NOT_FOUND: that is "not reached" too.
            if (
                getattr(out, "acknowledged", None) is False
                or getattr(out, "success", None) is False
            ):
                continue
            answered[name] = f"OK {out!r}"
        assert snapshot(world) == baseline
        assert answered == {}, f"B's calls on A's job/worker were not NOT_FOUND: {answered}"
        with pytest.raises((ConflictError, AuthorizationError)):
            g.workers.register("b-queue", "b-host", worker_id=w.worker)
        assert g.queue.dequeue(w.queue, "b-grpc-worker", batch_size=100).jobs == []
        stats = g.queue.get_queue_stats(w.queue)
        assert (stats.pending, stats.processing, stats.deadletter) == (0, 0, 0), stats
    assert snapshot(world) == baseline


# -- row-level security ------------------------------------------------------------------
def test_rls_hides_jobs_without_tenant(world: World, db: Db) -> None:
    a_jobs = db.fetchval(
        "SELECT count(*) FROM core.jobs WHERE organization_id = $1", world.a.id, org=world.a.id
    )
    assert a_jobs >= 3, "A's jobs are visible with A's tenant set"
    assert db.fetch_fresh("SELECT count(*) AS n FROM core.jobs") == [{"n": 0}], (
        "without app.current_org_id the app role must see no jobs at all"
    )
    assert db.fetchval("SELECT count(*) FROM core.jobs") == 0
    assert (
        db.fetchval(
            "SELECT count(*) FROM core.jobs WHERE organization_id = $1", world.a.id, org=world.b.id
        )
        == 0
    ), "B's tenant must not see A's jobs"
    assert (
        db.fetchval(
            "SELECT count(*) FROM core.jobs WHERE organization_id <> $1", world.a.id, org=world.a.id
        )
        == 0
    ), "A's tenant sees only A's jobs"


def test_rls_is_enforced_on_every_tenant_table(db: Db) -> None:
    """Every table of queue-core's schema with an organization_id has RLS that applies to
    the app role (enabled, and forced when the app role owns the table)."""
    rows = db.fetch("""
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               pg_get_userbyid(c.relowner) = current_user AS owned
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'core' AND c.relkind IN ('r', 'p')
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname = 'organization_id' AND NOT a.attisdropped)
          AND c.relname NOT LIKE 'outbox%'
        ORDER BY 1""")
    names = {r["relname"] for r in rows}
    assert "jobs" in names, f"core tables with organization_id: {sorted(names)}"
    weak = [
        r["relname"]
        for r in rows
        if not r["relrowsecurity"] or (r["owned"] and not r["relforcerowsecurity"])
    ]
    assert weak == [], f"tables where RLS does not bind the app role: {weak}"


def test_services_do_not_connect_as_superuser(db: Db) -> None:
    rows = db.fetch("""
        SELECT DISTINCT a.usename, r.rolsuper, r.rolbypassrls
        FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()""")
    assert rows, "no service connections seen"
    assert [r for r in rows if r["rolsuper"] or r["rolbypassrls"]] == []


@pytest.fixture(scope="module", autouse=True)
def _final_check(world: World, baseline: dict[str, Any]) -> Iterator[None]:
    yield
    assert snapshot(world) == baseline
