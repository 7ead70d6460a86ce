"""The official SDK's REST surface against the running suite (SDK.md §2, API.md §4-§7, §11).

Each test works in its own queues of the module's tenant (or a fresh tenant where it needs
organization-wide numbers), and asserts outcomes: what the API returns afterwards, and for
a few properties (idempotency, hashed keys) what is in the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from spooled import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    NotFoundError,
    SpooledClient,
)

from .conftest import WORKER, Db, Org, claim, expect, make_deadletter, sdk_client, unique


def _now() -> datetime:
    return datetime.now(UTC)


def _ids(page: object) -> list[str]:
    return [j.id for j in page]  # type: ignore[attr-defined]


# -- health ------------------------------------------------------------------------------
def test_health(client: SpooledClient) -> None:
    h = client.health.get()
    assert h.status == "healthy", h
    assert h.database is True, h
    assert client.health.liveness() is True
    assert client.health.readiness() is True


# -- create / get ------------------------------------------------------------------------
def test_create_single_job_and_get_it(client: SpooledClient, org: Org, db: Db) -> None:
    q = unique("create")
    payload = {"to": "a@example.com", "n": 1, "nested": {"list": [1, 2, 3]}}
    before = _now()
    r = client.jobs.create(
        {
            "queue_name": q,
            "payload": payload,
            "priority": 7,
            "max_retries": 2,
            "timeout_seconds": 60,
            "tags": {"team": "billing"},
        }
    )
    assert r.created is True and r.id

    job = client.jobs.get(r.id)
    assert job.id == r.id
    assert job.organization_id == org.id
    assert job.queue_name == q
    assert job.status == "pending"
    assert job.payload == payload
    assert job.priority == 7
    assert job.max_retries == 2
    assert job.timeout_seconds == 60
    assert job.tags == {"team": "billing"}
    assert job.retry_count == 0
    assert job.result is None and job.completed_at is None and job.lease_id is None
    assert before - timedelta(seconds=5) <= job.created_at <= _now() + timedelta(seconds=5)

    rows = db.fetch(
        "SELECT status, queue_name, priority FROM core.jobs WHERE id = $1", r.id, org=org.id
    )
    assert rows == [{"status": "pending", "queue_name": q, "priority": 7}]

    with pytest.raises(NotFoundError):
        client.jobs.get("00000000-0000-4000-8000-000000000000")


def test_create_returns_201_then_200_for_idempotent_hit(http: httpx.Client) -> None:
    body = {"queue_name": unique("status"), "payload": {}, "idempotency_key": unique("k")}
    first = expect(http.post("/jobs", json=body), 201)
    again = expect(http.post("/jobs", json=body), 200)
    assert first == {"id": first["id"], "created": True}
    assert again == {"id": first["id"], "created": False}


def test_idempotency_key(
    client: SpooledClient, org: Org, db: Db, make_org: Callable[..., Org]
) -> None:
    q, q2, key = unique("idem"), unique("idem2"), unique("key")
    a = client.jobs.create({"queue_name": q, "payload": {"v": 1}, "idempotency_key": key})
    b = client.jobs.create({"queue_name": q, "payload": {"v": 2}, "idempotency_key": key})
    assert a.created is True
    assert b.created is False and b.id == a.id
    # Unique per organization, across queues; the duplicate's fields are ignored.
    c = client.jobs.create({"queue_name": q2, "payload": {"v": 3}, "idempotency_key": key})
    assert c.created is False and c.id == a.id
    job = client.jobs.get(a.id)
    assert job.payload == {"v": 1} and job.queue_name == q and job.idempotency_key == key
    assert _ids(client.jobs.list({"queue_name": q2})) == []
    assert (
        db.fetchval("SELECT count(*) FROM core.jobs WHERE idempotency_key = $1", key, org=org.id)
        == 1
    )

    # Another tenant using the same key gets its own job.
    other = make_org().client()
    o = other.jobs.create({"queue_name": q, "payload": {"v": 9}, "idempotency_key": key})
    assert o.created is True and o.id != a.id


def test_scheduled_at_in_future_is_scheduled(client: SpooledClient) -> None:
    q = unique("sched")
    at = (_now() + timedelta(hours=1)).replace(microsecond=0)
    r = client.jobs.create({"queue_name": q, "payload": {}, "scheduled_at": at})
    job = client.jobs.get(r.id)
    assert job.status == "scheduled"
    assert job.scheduled_at is not None and abs((job.scheduled_at - at).total_seconds()) < 1
    assert claim(client, q) == [], "a job scheduled an hour ahead must not be claimable"

    past = client.jobs.create(
        {"queue_name": q, "payload": {}, "scheduled_at": _now() - timedelta(minutes=1)}
    )
    assert client.jobs.get(past.id).status == "pending"
    assert [j.id for j in claim(client, q)] == [past.id]


def test_tags_are_stored_and_filterable(client: SpooledClient) -> None:
    q = unique("tags")
    tagged = client.jobs.create(
        {"queue_name": q, "payload": {}, "tags": {"urgent": True, "team": "a"}}
    ).id
    listed = client.jobs.create({"queue_name": q, "payload": {}, "tags": ["green", "blue"]}).id
    client.jobs.create({"queue_name": q, "payload": {}})
    assert client.jobs.get(tagged).tags == {"urgent": True, "team": "a"}
    assert client.jobs.get(listed).tags == ["green", "blue"]
    assert _ids(client.jobs.list({"queue_name": q, "tag": "urgent"})) == [tagged]
    assert _ids(client.jobs.list({"queue_name": q, "tag": "blue"})) == [listed]


def test_bulk_enqueue(client: SpooledClient) -> None:
    q, key = unique("bulk"), unique("bk")
    pre = client.jobs.create({"queue_name": q, "payload": {"i": -1}, "idempotency_key": key})
    res = client.jobs.bulk_enqueue(
        {
            "queue_name": q,
            "jobs": [
                {"payload": {"i": 0}},
                {"payload": {"i": 1}, "priority": 9},
                {"payload": {"i": 2}, "idempotency_key": key},
            ],
            "default_priority": 3,
            "default_max_retries": 4,
        }
    )
    assert (res.total, res.success_count, res.failure_count) == (3, 3, 0), res
    assert res.failed == []
    by_index = {s.index: s for s in res.succeeded}
    assert sorted(by_index) == [0, 1, 2]
    assert by_index[0].created is True and by_index[1].created is True
    assert by_index[2].created is False and by_index[2].job_id == pre.id
    j0, j1 = client.jobs.get(by_index[0].job_id), client.jobs.get(by_index[1].job_id)
    assert (j0.payload, j0.priority, j0.max_retries) == ({"i": 0}, 3, 4)
    assert (j1.payload, j1.priority, j1.max_retries) == ({"i": 1}, 9, 4)
    ids = set(_ids(client.jobs.list({"queue_name": q})))
    assert ids == {pre.id, j0.id, j1.id}


# -- list / filters ----------------------------------------------------------------------
def test_list_with_filters(client: SpooledClient) -> None:
    q = unique("list")
    j1 = client.jobs.create({"queue_name": q, "payload": {"n": 1}}).id
    j2 = client.jobs.create({"queue_name": q, "payload": {"n": 2}}).id
    j3 = client.jobs.create({"queue_name": q, "payload": {"n": 3}}).id
    client.jobs.cancel(j3)
    client.jobs.create({"queue_name": unique("elsewhere"), "payload": {}})

    everything = client.jobs.list({"queue_name": q})
    assert _ids(everything) == [j3, j2, j1], "default order is newest first"
    assert {s.queue_name for s in everything} == {q}
    assert _ids(client.jobs.list({"queue_name": q, "status": "cancelled"})) == [j3]
    assert set(_ids(client.jobs.list({"queue_name": q, "status": "pending"}))) == {j1, j2}
    assert set(_ids(client.jobs.list({"queue_name": q, "status": "pending,cancelled"}))) == {
        j1,
        j2,
        j3,
    }
    assert _ids(client.jobs.list({"queue_name": q, "status": ["cancelled", "completed"]})) == [j3]
    assert _ids(client.jobs.list({"queue_name": q, "status": "completed"})) == []
    assert _ids(client.jobs.list({"queue_name": unique("nothing-here")})) == []

    page1 = client.jobs.list({"queue_name": q, "limit": 2})
    page2 = client.jobs.list({"queue_name": q, "limit": 2, "offset": 2})
    assert _ids(page1) == [j3, j2] and page1.has_more is True
    assert _ids(page2) == [j1] and page2.has_more is False


# -- cancel / retry / boost --------------------------------------------------------------
def test_cancel(client: SpooledClient) -> None:
    q = unique("cancel")
    job_id = client.jobs.create({"queue_name": q, "payload": {}}).id
    assert client.jobs.cancel(job_id) is None
    assert client.jobs.get(job_id).status == "cancelled"
    with pytest.raises(ConflictError):
        client.jobs.cancel(job_id)

    running = client.jobs.create({"queue_name": q, "payload": {}}).id
    assert [j.id for j in claim(client, q)] == [running]
    with pytest.raises(ConflictError):
        client.jobs.cancel(running)
    assert client.jobs.get(running).status == "processing"

    with pytest.raises(NotFoundError):
        client.jobs.cancel("00000000-0000-4000-8000-000000000000")


def test_boost_priority_changes_claim_order(client: SpooledClient) -> None:
    q = unique("boost")
    low = client.jobs.create({"queue_name": q, "payload": {}}).id
    high = client.jobs.create({"queue_name": q, "payload": {}, "priority": 10}).id
    boosted = client.jobs.boost_priority(low, 50)
    assert (boosted.job_id, boosted.old_priority, boosted.new_priority) == (low, 0, 50)
    assert client.jobs.get(low).priority == 50
    assert [j.id for j in claim(client, q)] == [low], "highest priority is claimed first"
    assert [j.id for j in claim(client, q)] == [high]
    with pytest.raises(NotFoundError):
        client.jobs.boost_priority(low, 60)  # processing: not pending/scheduled


def test_retry_deadlettered_job(client: SpooledClient) -> None:
    q = unique("retry")
    dead = make_deadletter(client, q, error="kaboom")
    job = client.jobs.get(dead)
    assert job.status == "deadletter" and job.last_error == "kaboom"
    retried = client.jobs.retry(dead)
    assert retried.id == dead
    assert retried.status == "pending" and retried.retry_count == 0 and retried.last_error is None
    assert client.jobs.get(dead).status == "pending"
    assert dead not in _ids(client.jobs.dlq.list({"queue_name": q}))
    with pytest.raises(ConflictError):
        client.jobs.retry(dead)  # pending: nothing to retry
    with pytest.raises(NotFoundError):
        client.jobs.retry("00000000-0000-4000-8000-000000000000")


def test_batch_status(client: SpooledClient) -> None:
    q = unique("batch")
    a = client.jobs.create({"queue_name": q, "payload": {}}).id
    b = client.jobs.create({"queue_name": q, "payload": {}}).id
    client.jobs.cancel(b)
    missing = "00000000-0000-4000-8000-000000000000"
    got = {s.id: s for s in client.jobs.batch_status([a, b, missing])}
    assert set(got) == {a, b}
    assert got[a].status == "pending" and got[b].status == "cancelled"
    assert got[a].queue_name == q and got[a].retry_count == 0


def test_job_stats(fresh_org: Org) -> None:
    c = fresh_org.client()
    for _ in range(2):
        c.jobs.create({"queue_name": "st-pending", "payload": {}})
    c.jobs.create(
        {"queue_name": "st-sched", "payload": {}, "scheduled_at": _now() + timedelta(hours=1)}
    )
    c.jobs.cancel(c.jobs.create({"queue_name": "st-cancel", "payload": {}}).id)
    make_deadletter(c, "st-dead")
    c.jobs.create({"queue_name": "st-proc", "payload": {}})
    claim(c, "st-proc")
    done = c.jobs.create({"queue_name": "st-done", "payload": {}}).id
    [j] = claim(c, "st-done")
    c.jobs.complete(done, {"worker_id": WORKER, "result": {"ok": True}, "lease_id": j.lease_id})

    s = c.jobs.get_stats()
    assert (
        s.pending,
        s.scheduled,
        s.processing,
        s.completed,
        s.failed,
        s.deadletter,
        s.cancelled,
        s.total,
    ) == (2, 1, 1, 1, 0, 1, 1, 7), s


# -- dead-letter queue -------------------------------------------------------------------
def test_dlq_list_retry_purge(client: SpooledClient, http: httpx.Client) -> None:
    q, other = unique("dlq"), unique("dlq-other")
    d1, d2, d3 = (make_deadletter(client, q, {"i": i}) for i in range(3))
    keep = make_deadletter(client, other)

    listed = client.jobs.dlq.list({"queue_name": q})
    assert set(_ids(listed)) == {d1, d2, d3}
    assert {s.status for s in listed} == {"deadletter"}

    r = client.jobs.dlq.retry({"job_ids": [d1]})
    assert r.retried_count == 1 and r.retried_jobs == [d1]
    j = client.jobs.get(d1)
    assert (j.status, j.retry_count, j.last_error) == ("pending", 0, None)

    r = client.jobs.dlq.retry({"queue_name": q})
    assert r.retried_count == 2 and set(r.retried_jobs) == {d2, d3}
    assert _ids(client.jobs.dlq.list({"queue_name": q})) == []
    assert keep in _ids(client.jobs.dlq.list({"queue_name": other}))

    # Drain what was retried so the next dead-letters are claimed first and alone.
    for job in claim(client, q, limit=10):
        client.jobs.complete(job.id, {"worker_id": WORKER, "lease_id": job.lease_id})
    d4, d5 = make_deadletter(client, q), make_deadletter(client, q)

    refused = expect(http.post("/jobs/dlq/purge", json={"confirm": False, "queue_name": q}), 400)
    assert refused["code"] in {"VALIDATION_ERROR", "BAD_REQUEST"}
    assert set(_ids(client.jobs.dlq.list({"queue_name": q}))) == {d4, d5}

    purged = client.jobs.dlq.purge({"queue_name": q, "confirm": True})
    assert purged.purged_count == 2
    assert _ids(client.jobs.dlq.list({"queue_name": q})) == []
    for gone in (d4, d5):
        with pytest.raises(NotFoundError):
            client.jobs.get(gone)
    assert _ids(client.jobs.dlq.list({"queue_name": other})) == [keep], "purge is per queue"
    assert client.jobs.get(d1).status == "completed", "purge only removes dead-lettered jobs"


# -- queues ------------------------------------------------------------------------------
def test_queue_pause_resume_stats(client: SpooledClient, org: Org) -> None:
    q = unique("pause")
    job_id = client.jobs.create({"queue_name": q, "payload": {}}).id

    paused = client.queues.pause(q, reason="maintenance")
    assert paused.queue_name == q and paused.paused is True and paused.reason == "maintenance"
    assert abs((paused.paused_at - _now()).total_seconds()) < 60
    cfg = client.queues.get(q)
    assert cfg.queue_name == q and cfg.enabled is False and cfg.organization_id == org.id
    assert claim(client, q) == [], "a paused queue hands out no jobs"

    stats = client.queues.get_stats(q)
    assert (stats.queue_name, stats.pending_jobs, stats.processing_jobs) == (q, 1, 0), stats

    resumed = client.queues.resume(q)
    assert resumed.queue_name == q and resumed.resumed is True
    assert resumed.paused_duration_secs >= 0
    assert client.queues.get(q).enabled is True
    assert [j.id for j in claim(client, q)] == [job_id]
    stats = client.queues.get_stats(q)
    assert (stats.pending_jobs, stats.processing_jobs) == (0, 1), stats

    with pytest.raises(NotFoundError):
        client.queues.get(unique("never-used"))


def test_queue_config_update_get_list(client: SpooledClient) -> None:
    q = unique("cfg")
    client.jobs.create({"queue_name": q, "payload": {}})
    cfg = client.queues.update_config(q, {"max_retries": 5, "default_timeout": 120})
    assert (cfg.queue_name, cfg.max_retries, cfg.default_timeout, cfg.enabled) == (q, 5, 120, True)
    got = client.queues.get(q)
    assert (got.max_retries, got.default_timeout) == (5, 120)

    # Omitted fields keep their value.
    cfg = client.queues.update_config(q, {"default_timeout": 90})
    assert (cfg.max_retries, cfg.default_timeout) == (5, 90)

    summaries = {s.queue_name: s for s in client.queues.list()}
    assert q in summaries, summaries.keys()
    assert (summaries[q].max_retries, summaries[q].default_timeout, summaries[q].enabled) == (
        5,
        90,
        True,
    )

    # The queue's configuration is the default for new jobs that do not say otherwise.
    job = client.jobs.get(client.jobs.create({"queue_name": q, "payload": {}}).id)
    assert (job.max_retries, job.timeout_seconds) == (5, 90)


# -- workers -----------------------------------------------------------------------------
def test_workers_register_list_get_heartbeat_deregister(
    client: SpooledClient, http: httpx.Client
) -> None:
    q, wid = unique("wq"), unique("worker")
    reg = client.workers.register(
        {
            "queue_name": q,
            "hostname": "host-1",
            "worker_id": wid,
            "worker_type": "python",
            "max_concurrency": 3,
            "metadata": {"zone": "a"},
            "version": "9.9.9",
        }
    )
    assert reg.id == wid and reg.queue_name == q
    assert reg.lease_duration_secs > 0 and reg.heartbeat_interval_secs > 0

    listed = {w.id: w for w in client.workers.list()}
    assert wid in listed
    w = listed[wid]
    assert (w.queue_name, w.hostname, w.status, w.current_jobs, w.max_concurrency) == (
        q,
        "host-1",
        "healthy",
        0,
        3,
    )

    got = client.workers.get(wid)
    assert (got.id, got.queue_name, got.hostname, got.status) == (wid, q, "host-1", "healthy")
    assert got.max_concurrency == 3 and got.version == "9.9.9"
    assert got.metadata == {"zone": "a"}
    first_beat = got.last_heartbeat

    client.workers.heartbeat(
        wid, {"current_jobs": 2, "status": "degraded", "metadata": {"zone": "b"}}
    )
    got = client.workers.get(wid)
    assert (got.status, got.current_jobs) == ("degraded", 2)
    assert got.last_heartbeat >= first_beat

    client.workers.deregister(wid)
    assert client.workers.get(wid).status == "offline"

    # Re-registering the same id is an upsert that brings it back.
    again = expect(
        http.post(
            "/workers/register", json={"queue_name": q, "hostname": "host-1", "worker_id": wid}
        ),
        201,
    )
    assert again["id"] == wid
    assert client.workers.get(wid).status == "healthy"

    minted = client.workers.register({"queue_name": q, "hostname": "host-2"})
    assert minted.id and minted.id != wid
    with pytest.raises(NotFoundError):
        client.workers.get(unique("no-such-worker"))


# -- API keys ----------------------------------------------------------------------------
def test_api_keys_crud_scope_and_revocation(client: SpooledClient, org: Org, db: Db) -> None:
    allowed, forbidden = unique("scoped"), unique("unscoped")
    outside = client.jobs.create({"queue_name": forbidden, "payload": {}}).id

    created = client.api_keys.create({"name": "ci key", "queues": [allowed]})
    assert created.key.startswith("sp_") and created.name == "ci key" and created.id

    listed = {k.id: k for k in client.api_keys.list()}
    assert {created.id, org.api_key_id} <= set(listed)
    assert listed[created.id].queues == [allowed] and listed[created.id].is_active is True
    got = client.api_keys.get(created.id)
    assert (got.id, got.name, got.queues, got.is_active) == (created.id, "ci key", [allowed], True)
    updated = client.api_keys.update(created.id, {"name": "ci key 2"})
    assert updated.name == "ci key 2" and client.api_keys.get(created.id).name == "ci key 2"

    # The raw key is shown once and stored only hashed.
    rows = db.fetch("SELECT * FROM gateway.api_keys WHERE id = $1", created.id, org=org.id)
    assert len(rows) == 1
    assert not any(created.key in str(v) for v in rows[0].values()), "raw key stored in the DB"

    scoped = org.client(api_key=created.key)
    mine = scoped.jobs.create({"queue_name": allowed, "payload": {}}).id
    assert scoped.jobs.get(mine).queue_name == allowed
    with pytest.raises(AuthorizationError):
        scoped.jobs.create({"queue_name": forbidden, "payload": {}})
    with pytest.raises(NotFoundError):
        scoped.jobs.get(outside)
    assert outside not in _ids(scoped.jobs.list({"limit": 100}))

    client.api_keys.delete(created.id)
    assert client.api_keys.get(created.id).is_active is False
    assert {k.id: k.is_active for k in client.api_keys.list()}[created.id] is False
    with pytest.raises(AuthenticationError):
        scoped.jobs.list()
    assert client.jobs.get(mine).status == "pending", "the org's own key keeps working"


# -- organizations -----------------------------------------------------------------------
def test_organization_get_list_update(client: SpooledClient, org: Org) -> None:
    o = client.organizations.get(org.id)
    assert (o.id, o.slug, o.name) == (org.id, org.slug, org.name)
    assert o.plan_tier in {"free", "starter", "pro", "enterprise"}
    assert [s.id for s in client.organizations.list()] == [org.id]
    renamed = client.organizations.update(org.id, {"name": org.name + " renamed"})
    assert renamed.name == org.name + " renamed"
    assert client.organizations.get(org.id).name == org.name + " renamed"
    client.organizations.update(org.id, {"name": org.name})
    with pytest.raises(NotFoundError):
        client.organizations.get("00000000-0000-4000-8000-000000000000")


def test_organization_usage(fresh_org: Org) -> None:
    c = fresh_org.client()
    plan = c.organizations.get(fresh_org.id).plan_tier
    for _ in range(2):
        c.jobs.create({"queue_name": "usage-a", "payload": {}})
    done = c.jobs.create({"queue_name": "usage-b", "payload": {}}).id
    [j] = claim(c, "usage-b")
    c.jobs.complete(done, {"worker_id": WORKER, "lease_id": j.lease_id})

    u = c.organizations.get_usage()
    assert u.plan == plan and u.limits.tier == plan and u.plan_display_name
    assert u.usage.jobs_today.current == 3, u.usage.jobs_today
    assert u.usage.active_jobs.current == 2, u.usage.active_jobs
    assert u.usage.api_keys.current == 1, u.usage.api_keys
    assert u.usage.queues.current == 2, u.usage.queues


# -- auth --------------------------------------------------------------------------------
def test_auth_login_me_refresh_logout(client: SpooledClient, org: Org) -> None:
    stack = org.stack
    login = client.auth.login({"api_key": org.api_key})
    assert login.token_type == "Bearer" and login.expires_in > 0
    assert login.refresh_expires_in > login.expires_in
    assert login.access_token.startswith("eyJ") and login.refresh_token.startswith("eyJ")

    jwt_client = sdk_client(stack, access_token=login.access_token)
    me = jwt_client.auth.me()
    assert me.organization_id == org.id and me.api_key_id == org.api_key_id
    assert me.expires_at > me.issued_at
    # A JWT works on protected routes like the key it came from.
    job_id = jwt_client.jobs.create({"queue_name": unique("jwt"), "payload": {}}).id
    assert jwt_client.jobs.get(job_id).organization_id == org.id
    v = client.auth.validate({"token": login.access_token})
    assert v.valid is True and v.organization_id == org.id

    refreshed = client.auth.refresh({"refresh_token": login.refresh_token})
    assert refreshed.token_type == "Bearer" and refreshed.expires_in > 0
    assert refreshed.access_token != login.access_token
    assert (
        sdk_client(stack, access_token=refreshed.access_token).auth.me().organization_id == org.id
    )

    base = stack.base_url + "/api/v1"

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # A refresh token is not an access token.
    expect(httpx.get(f"{base}/jobs", headers=bearer(login.refresh_token)), 401)

    logout_client = sdk_client(stack, access_token=refreshed.access_token)
    logout_client.auth.logout(refresh_token=login.refresh_token)
    expect(httpx.get(f"{base}/auth/me", headers=bearer(refreshed.access_token)), 401)
    expect(httpx.get(f"{base}/jobs", headers=bearer(refreshed.access_token)), 401)
    expect(httpx.post(f"{base}/auth/refresh", json={"refresh_token": login.refresh_token}), 401)
    assert client.jobs.get(job_id).id == job_id, "the API key itself is not revoked by logout"

    with pytest.raises(AuthenticationError):
        client.auth.login({"api_key": "sp_test_" + secrets.token_urlsafe(32)})


def test_pause_or_resume_unknown_queue_is_404(client: SpooledClient, http: httpx.Client) -> None:
    """API.md §6: pause/resume answer 404 when the queue does not exist (no config, no jobs)."""
    name = unique("ghost")
    with pytest.raises(NotFoundError):
        client.queues.resume(name)
    expect(http.post(f"/queues/{name}/pause", json={"reason": "nothing here"}), 404)
    with pytest.raises(NotFoundError):
        client.queues.get(name)
