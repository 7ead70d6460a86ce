"""kill -9 each service in turn under a steady load; nothing acknowledged is lost (issue 8.1).

For each service (gateway, queue-core, scheduler, webhooks, realtime, billing) a fresh tenant
gets a steady load: 8 clients creating jobs over REST and 4 workers claiming and completing
them (5 s leases), an every-second cron schedule, and an outgoing webhook for
``job.completed`` to a receiver in this process. Once work flows, the service is killed with
SIGKILL; the supervisor restarts it (as `make run` and Kubernetes do); the load goes on until
work has flowed again, then the queue drains. Afterwards:

* every job a client was told exists (2xx) is in the database and completed; no job exists
  that no client was told about (a retried create made no second job);
* no job was completed twice: one ``completed`` entry in job_history and one
  ``job.completed`` outbox event per job;
* every cron tick between the first and the last fired exactly once, with one job each;
* the receiver got a ``job.completed`` webhook for every completed job, one delivery id each
  (a redelivery repeats its id);
* no client got a 500, or a 503 without ``Retry-After``: while a process is down clients
  see connection errors or 503s, and retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2e.conftest import Db, Org, unique, wait_for
from spooled_testing import reliability
from spooled_testing.receiver import WebhookReceiver
from spooled_testing.stack import Stack

from .checks import (
    crash,
    cron_outcome,
    cron_ticks,
    every_second_schedule,
    job_outcome,
    pause_schedule,
    sse_event_arrives,
    subscribe,
    wait_completed,
    wait_webhooks,
)
from .conftest import Supervisor
from .load import Load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SERVICES = ["gateway", "queue-core", "scheduler", "webhooks", "realtime", "billing"]
#: Completions before the kill, and again after the restart, before the queue drains.
WARM = 60
AFTER = 100
#: Cron ticks before the kill, and again after the restart: the schedule must keep firing
#: across the kill, whatever the load's pace (a fast run once finished in 3 s, one tick).
TICKS = 2


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.mark.parametrize("service", SERVICES)
def test_kill9_under_load_loses_nothing(
    service: str,
    stack: Stack,
    supervisor: Supervisor,
    db: Db,
    fresh_org: Org,
    receiver: WebhookReceiver,
) -> None:
    org = fresh_org
    queue, cron_queue = unique(f"kill-{service}"), unique("cron")
    subscribe(org, receiver)
    schedule = every_second_schedule(org, cron_queue)
    load = Load(stack.base_url, org.api_key, queue, tag=f"kill-{service}").start()
    tally = load.tally
    t0 = time.monotonic()

    def phase(name: str) -> None:
        print(f"[{service}] {name} at {time.monotonic() - t0:.1f}s", flush=True)

    try:
        wait_for(
            lambda: len(tally.completed_ids()) >= WARM,
            timeout=60,
            desc=f"{WARM} completions before the kill",
        )
        wait_for(
            lambda: cron_ticks(db, org, schedule) >= TICKS,
            timeout=30,
            desc=f"{TICKS} cron ticks before the kill",
        )
        ticks_before = cron_ticks(db, org, schedule)
        acked_before, done_before = len(tally.acked_ids()), len(tally.completed_ids())
        phase("warm")
        downtime = crash(stack, service)
        phase("restarted")
        wait_for(
            lambda: (
                len(tally.acked_ids()) >= acked_before + AFTER
                and len(tally.completed_ids()) >= done_before + AFTER
            ),
            timeout=90,
            desc=f"{AFTER} more creates and completions after {service} came back",
        )
        wait_for(
            lambda: cron_ticks(db, org, schedule) >= ticks_before + TICKS,
            timeout=30,
            desc=f"{TICKS} more cron ticks after {service} came back",
        )
        if service == "realtime":
            assert sse_event_arrives(stack, org, unique("sse")), (
                "no live event through the restarted realtime service"
            )
        phase("flowing again")
        load.stop_enqueuing()
        time.sleep(0.5)  # a create in flight at the stop is acknowledged or abandoned
        wait_completed(db, org, queue, tally.acked_ids(), timeout=90)
        phase("drained")
    finally:
        load.stop()
        pause_schedule(org, schedule)
    phase("stopped")

    jobs = job_outcome(db, org, queue, tally)
    assert jobs.lost == 0, jobs.detail
    assert jobs.duplicates == 0, jobs.detail
    assert jobs.unacknowledged == 0, jobs.detail
    assert tally.bad == [], f"{tally.bad_count} answers no client should get: {tally.bad}"

    completed = set(tally.acked_ids())
    webhooks = wait_webhooks(receiver, completed, timeout=60)
    phase("webhooks")
    several_ids = {job: ids for job, ids in webhooks.items() if len(ids) != 1}
    assert several_ids == {}, "a completion was sent as two different events"

    cron = cron_outcome(db, org, schedule, cron_queue)
    assert cron.ticks >= 2 * TICKS, f"the schedule hardly fired ({cron.ticks} ticks)"
    assert cron.duplicate_ticks == 0, cron.detail
    assert cron.missed_ticks == 0, cron.detail
    assert cron.failed_runs == 0, cron.detail

    redelivered = sum(
        1 for r in receiver.received() if r.json().get("data", {}).get("job_id") in completed
    ) - len(completed)
    reliability.record(
        "process faults",
        f"kill -9 {service} during load (supervisor restarts it)",
        "every acknowledged job completed once; no job created twice; every cron tick fired "
        "once; a job.completed webhook per job; no 500, every 503 with Retry-After",
        f"back in {downtime:.1f} s; {jobs.acknowledged} jobs acknowledged, all completed once; "
        f"{cron.ticks} cron ticks, one job each; {len(webhooks)} jobs' webhooks delivered",
        **jobs.counts(),
        **{"5xx": tally.non_503_5xx()},
        no_answer=tally.no_answer(),
        answered_503=tally.count(range(503, 504)),
        lease_lost=tally.lease_lost,
        webhook_redeliveries=redelivered,
    )
