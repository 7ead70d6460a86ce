"""The official SDK's ``client.schedules`` against the running suite (SDK.md §2, API.md §8).

The scheduler runs as its own process in the stack, on the real clock: one test waits for
an every-second schedule to fire through queue-core. The DST and replica properties are
tested with a controllable clock in ``services/scheduler``; here the SDK's view of the
resource is what is under test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from spooled import NotFoundError, SpooledClient, ValidationError

from .conftest import WORKER, Db, Org, claim, expect, unique, wait_for

#: Fires once a year: schedules of these tests never fire on their own unless meant to.
RARELY = "0 0 0 1 1 *"


@pytest.fixture
def sched(fresh_org: Org) -> SpooledClient:
    """A client of a tenant of its own: each test holds at most one active schedule, so
    the tests pass under any plan's schedule cap (free: 1)."""
    return fresh_org.client()


def _create(client: SpooledClient, **fields: Any) -> str:
    body: dict[str, Any] = {
        "name": unique("sched"),
        "cron_expression": RARELY,
        "queue_name": unique("sq"),
        "payload_template": {"kind": "report"},
    }
    body.update(fields)
    return client.schedules.create(body).id


def test_create_get_list_update_delete(sched: SpooledClient, fresh_org: Org) -> None:
    client, org = sched, fresh_org
    q = unique("crud")
    created = client.schedules.create(
        {
            "name": "nightly report",
            "description": "02:30 Berlin time",
            "cron_expression": "0 30 2 * * *",
            "timezone": "Europe/Berlin",
            "queue_name": q,
            "payload_template": {"report": "daily", "format": "pdf"},
            "priority": 5,
            "max_retries": 2,
            "timeout_seconds": 120,
            "tags": {"team": "finance"},
            "metadata": {"owner": "ops"},
        }
    )
    assert (created.name, created.cron_expression) == ("nightly report", "0 30 2 * * *")
    assert created.next_run_at is not None
    local = created.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute, local.second) == (2, 30, 0)
    assert created.next_run_at > datetime.now(UTC)

    s = client.schedules.get(created.id)
    assert (s.id, s.organization_id, s.queue_name, s.timezone) == (
        created.id,
        org.id,
        q,
        "Europe/Berlin",
    )
    assert s.payload_template == {"report": "daily", "format": "pdf"}
    assert (s.priority, s.max_retries, s.timeout_seconds) == (5, 2, 120)
    assert (s.tags, s.metadata, s.is_active, s.run_count) == (
        {"team": "finance"},
        {"owner": "ops"},
        True,
        0,
    )
    assert created.id in {x.id for x in client.schedules.list({"queue_name": q})}

    updated = client.schedules.update(
        created.id, {"name": "hourly report", "cron_expression": "0 0 * * * *", "priority": 1}
    )
    assert (updated.name, updated.cron_expression, updated.priority) == (
        "hourly report",
        "0 0 * * * *",
        1,
    )
    assert updated.next_run_at is not None and updated.next_run_at.minute == 0
    assert updated.next_run_at - datetime.now(UTC) <= timedelta(hours=1)
    assert updated.description == "02:30 Berlin time", "fields not sent are kept"

    client.schedules.delete(created.id)
    with pytest.raises(NotFoundError):
        client.schedules.get(created.id)


def test_pause_resume_and_list_filter(sched: SpooledClient) -> None:
    client = sched
    q = unique("pause")
    sid = _create(client, queue_name=q)
    assert client.schedules.pause(sid).is_active is False
    assert [x.id for x in client.schedules.list({"queue_name": q, "is_active": False})] == [sid]
    assert client.schedules.list({"queue_name": q, "is_active": True}) == []
    resumed = client.schedules.resume(sid)
    assert resumed.is_active is True and resumed.next_run_at is not None


def test_trigger_enqueues_the_template_and_records_history(sched: SpooledClient) -> None:
    client = sched
    q = unique("trigger")
    sid = _create(
        client, queue_name=q, payload_template={"n": 42}, priority=7, max_retries=1, tags=["t"]
    )
    fired = client.schedules.trigger(sid)
    job = client.jobs.get(fired.job_id)
    assert (job.queue_name, job.payload, job.priority, job.max_retries, job.status) == (
        q,
        {"n": 42},
        7,
        1,
        "pending",
    )
    assert abs((fired.triggered_at - datetime.now(UTC)).total_seconds()) < 60
    s = client.schedules.get(sid)
    assert s.run_count == 1 and s.last_run_at is not None
    [run] = client.schedules.get_history(sid)
    assert (run.job_id, run.status) == (fired.job_id, "completed")
    # A worker takes the triggered job like any other.
    [got] = claim(client, q)
    assert got.id == fired.job_id
    client.jobs.complete(got.id, {"worker_id": WORKER, "lease_id": got.lease_id})


def test_cron_fires_through_queue_core(sched: SpooledClient) -> None:
    client = sched
    q = unique("fires")
    sid = _create(client, queue_name=q, cron_expression="* * * * * *", payload_template={"t": 1})
    try:
        history = wait_for(
            lambda: client.schedules.get_history(sid, limit=5), timeout=20, desc="a cron run"
        )
    finally:
        client.schedules.pause(sid)
    run = history[-1]
    assert run.status == "completed" and run.job_id
    job = client.jobs.get(run.job_id)
    assert (job.queue_name, job.payload) == (q, {"t": 1})


def test_five_field_cron_is_accepted(sched: SpooledClient) -> None:
    client = sched
    sid = _create(client, cron_expression="*/15 * * * *")
    s = client.schedules.get(sid)
    assert s.next_run_at is not None
    assert s.next_run_at.second == 0 and s.next_run_at.minute % 15 == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron_expression": "61 * * * * *"}, "Invalid cron expression"),
        ({"cron_expression": "not a cron"}, "Invalid cron expression"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(
    fresh_org: Org, db: Db, fields: dict[str, Any], message: str
) -> None:
    client = fresh_org.client()
    with pytest.raises(ValidationError) as caught:
        _create(client, **fields)
    assert caught.value.status_code == 400
    assert message.lower() in caught.value.message.lower(), caught.value
    count = db.fetchval(
        "SELECT count(*) FROM scheduler.schedules WHERE organization_id = $1",
        fresh_org.id,
        org=fresh_org.id,
    )
    assert count == 0
    assert client.schedules.list() == []


def test_missing_template_is_400(http: httpx.Client) -> None:
    body = {"name": "x", "cron_expression": RARELY, "queue_name": "q"}
    expect(http.post("/schedules", json=body), 400)


def test_other_orgs_schedules_are_not_found(
    sched: SpooledClient, make_org: Callable[..., Org]
) -> None:
    client = sched
    sid = _create(client)
    other = make_org("sched-other").client()
    calls: list[Callable[[], Any]] = [
        lambda: other.schedules.get(sid),
        lambda: other.schedules.update(sid, {"name": "mine now"}),
        lambda: other.schedules.pause(sid),
        lambda: other.schedules.resume(sid),
        lambda: other.schedules.trigger(sid),
        lambda: other.schedules.get_history(sid),
        lambda: other.schedules.delete(sid),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
    assert sid not in {s.id for s in other.schedules.list()}
    s = client.schedules.get(sid)
    assert (s.is_active, s.run_count) == (True, 0)
