"""What a fault test checks afterwards, from the database and from the webhook receiver.

The database is read as the application role under the tenant's id (row-level security
applies), never as a superuser.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from e2e.conftest import Db, Org, expect, unique, wait_for
from spooled_testing.receiver import Received, WebhookReceiver
from spooled_testing.stack import Stack

from .load import Tally


# -- processes ---------------------------------------------------------------------------
def crash(stack: Stack, name: str, timeout: float = 90) -> float:
    """SIGKILL service ``name``; the supervisor restarts it. Seconds until it is ready again."""
    svc = stack.services[name]
    assert svc.proc is not None and svc.alive(), f"{name} is not running"
    before, pid = svc.restarts, svc.proc.pid
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: svc.restarts > before and svc.alive() and svc.is_ready(),
        timeout=timeout,
        interval=0.1,
        desc=f"{name} restarted by the supervisor and ready (log: {svc.log_path})",
    )
    assert svc.proc is not None and svc.proc.pid != pid
    return time.monotonic() - t0


# -- jobs --------------------------------------------------------------------------------
@dataclass
class JobOutcome:
    sent: int
    acknowledged: int
    completed: int
    #: Acknowledged jobs that are missing or did not reach completed.
    lost: int
    #: Jobs completed more than once (job_history or outbox), or created twice.
    duplicates: int
    #: Jobs in the queue no client was told about (a create answered with an error).
    unacknowledged: int
    detail: str

    def counts(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "completed": self.completed,
            "lost": self.lost,
            "duplicates": self.duplicates,
        }


def completed_count(db: Db, org: Org, queue: str, ids: list[str]) -> int:
    return int(
        db.fetchval(
            "SELECT count(*) FROM core.jobs WHERE organization_id = $1 AND queue_name = $2"
            " AND status = 'completed' AND id = ANY($3::text[])",
            org.id,
            queue,
            ids,
            org=org.id,
        )
    )


def wait_completed(db: Db, org: Org, queue: str, ids: list[str], timeout: float) -> None:
    """Until every id in ``ids`` is completed (the workers are still running)."""
    wait_for(
        lambda: completed_count(db, org, queue, ids) == len(ids),
        timeout=timeout,
        interval=0.5,
        desc=f"all {len(ids)} acknowledged jobs completed",
    )


def job_outcome(db: Db, org: Org, queue: str, tally: Tally) -> JobOutcome:
    """Compare what clients were told with what the database holds."""
    acked = set(tally.acked_ids())
    rows = db.fetch(
        "SELECT id, status, idempotency_key FROM core.jobs"
        " WHERE organization_id = $1 AND queue_name = $2",
        org.id,
        queue,
        org=org.id,
    )
    status = {r["id"]: r["status"] for r in rows}
    history = db.fetch(
        "SELECT h.job_id, count(*) AS n FROM core.job_history h"
        " JOIN core.jobs j ON j.id = h.job_id"
        " WHERE j.organization_id = $1 AND j.queue_name = $2 AND h.event_type = 'completed'"
        " GROUP BY h.job_id",
        org.id,
        queue,
        org=org.id,
    )
    events = db.fetch(
        "SELECT aggregate AS job_id, count(*) AS n FROM core.outbox"
        " WHERE organization_id = $1 AND queue_name = $2 AND event_type = 'job.completed'"
        " GROUP BY aggregate",
        org.id,
        queue,
        org=org.id,
    )
    twice = {r["job_id"] for r in history if r["n"] > 1} | {
        r["job_id"] for r in events if r["n"] > 1
    }
    lost = {i for i in acked if status.get(i) != "completed"}
    # Every job in the queue was created by exactly one acknowledged key: a retried create
    # that made a second job would show up here. A create whose answer never reached the
    # client (its last try was cut off when the load stopped) may still have committed:
    # the client was told nothing, so that job is unanswered, not a broken promise.
    with tally.lock:
        unanswered_keys = tally.tried - set(tally.acked)
    unanswered = {r["id"] for r in rows if r["idempotency_key"] in unanswered_keys}
    extra = set(status) - acked - unanswered
    completed = sum(1 for s in status.values() if s == "completed")
    detail = (
        f"lost (status): {[(i, status.get(i)) for i in list(lost)[:5]]}; "
        f"completed twice: {list(twice)[:5]}; not acknowledged: {list(extra)[:5]}; "
        f"created but never answered (client stopped): {len(unanswered)}"
    )
    return JobOutcome(
        sent=tally.sent,
        acknowledged=len(acked),
        completed=completed,
        lost=len(lost),
        duplicates=len(twice),
        unacknowledged=len(extra),
        detail=detail,
    )


# -- outgoing webhooks -------------------------------------------------------------------
def subscribe(org: Org, receiver: WebhookReceiver, path: str = "/done") -> None:
    expect(
        org.http().post(
            "/outgoing-webhooks",
            json={"name": unique("chaos"), "url": receiver.url(path), "events": ["job.completed"]},
        ),
        201,
    )


def deliveries_by_job(reqs: list[Received]) -> dict[str, set[str]]:
    """job id -> the webhook-ids its job.completed deliveries carried."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in reqs:
        body = r.json()
        if body.get("event") == "job.completed":
            out[body["data"]["job_id"]].add(r.headers.get("webhook-id", ""))
    return out


def wait_webhooks(receiver: WebhookReceiver, ids: set[str], timeout: float) -> dict[str, set[str]]:
    receiver.wait_for(
        lambda reqs: ids <= set(deliveries_by_job(reqs)),
        timeout=timeout,
        desc=f"job.completed webhooks for {len(ids)} jobs",
    )
    return deliveries_by_job(receiver.received())


# -- cron --------------------------------------------------------------------------------
def every_second_schedule(org: Org, queue: str) -> str:
    doc = expect(
        org.http().post(
            "/schedules",
            json={
                "name": unique("tick"),
                "cron_expression": "* * * * * *",
                "queue_name": queue,
                "payload_template": {"tick": True},
            },
        ),
        201,
    )
    return str(doc["id"])


def pause_schedule(org: Org, schedule_id: str) -> None:
    def paused() -> bool:
        try:
            r = org.http().post(f"/schedules/{schedule_id}/pause")
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    wait_for(paused, timeout=30, desc="the schedule paused")


def cron_ticks(db: Db, org: Org, schedule_id: str) -> int:
    """How many cron ticks of the schedule have fired so far."""
    return int(
        db.fetchval(
            "SELECT count(*) FROM scheduler.schedule_runs WHERE schedule_id = $1 AND kind = 'cron'",
            schedule_id,
            org=org.id,
        )
    )


@dataclass
class CronOutcome:
    ticks: int
    jobs: int
    duplicate_ticks: int
    missed_ticks: int
    failed_runs: int
    detail: str


def cron_outcome(db: Db, org: Org, schedule_id: str, queue: str) -> CronOutcome:
    runs = db.fetch(
        "SELECT scheduled_for, job_id, status FROM scheduler.schedule_runs"
        " WHERE schedule_id = $1 AND kind = 'cron' ORDER BY scheduled_for",
        schedule_id,
        org=org.id,
    )
    jobs = db.fetch(
        "SELECT id FROM core.jobs WHERE organization_id = $1 AND queue_name = $2",
        org.id,
        queue,
        org=org.id,
    )
    ticks = [r["scheduled_for"] for r in runs]
    duplicate_ticks = len(ticks) - len(set(ticks))
    # An every-second schedule: each second between the first and the last tick fired.
    missed = sum(round((b - a) / timedelta(seconds=1)) - 1 for a, b in itertools.pairwise(ticks))
    run_jobs = [r["job_id"] for r in runs if r["job_id"]]
    job_ids = {r["id"] for r in jobs}
    # A job per tick, and no job outside the recorded ticks.
    duplicate_ticks += len(run_jobs) - len(set(run_jobs)) + len(job_ids - set(run_jobs))
    failed = [r for r in runs if r["status"] == "failed"]
    return CronOutcome(
        ticks=len(ticks),
        jobs=len(job_ids),
        duplicate_ticks=duplicate_ticks,
        missed_ticks=missed,
        failed_runs=len(failed),
        detail=f"runs without a job: {[r for r in runs if not r['job_id']][:3]}; "
        f"failed: {failed[:3]}",
    )


def sse_event_arrives(stack: Stack, org: Org, queue: str, timeout: float = 30) -> bool:
    """A new SSE connection through the gateway delivers the JobCreated of a new job."""
    url = f"{stack.base_url}/api/v1/events?queue={queue}"
    headers = {"Authorization": f"Bearer {org.api_key}"}
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=timeout)) as http,
        http.stream("GET", url, headers=headers) as r,
    ):
        if r.status_code != 200:
            return False
        created: dict[str, Any] = {}
        for line in r.iter_lines():
            if line.startswith(":") and "connected" in line and not created:
                created = expect(
                    org.http().post("/jobs", json={"queue_name": queue, "payload": {}}), 201
                )
            elif created and line.startswith("data:") and created["id"] in line:
                return True
            if time.monotonic() > deadline:
                return False
    return False
