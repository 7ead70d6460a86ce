"""The firing logic, driven by a manual clock against real Postgres.

queue-core is the in-memory recording peer here (idempotent like the real
one), so a test can set job states and make queue-core unavailable; the
tests in test_firing_real_core.py and test_replicas.py use the real service.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sched_helpers import RecordingQueueCore, fields, iso, replica, runs_of, schedule_row
from spooled_common.tenant import Tenant
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.firing.loop import FiringLoop
from spooled_scheduler.queue_core import JobRequest
from spooled_scheduler.schedules.service import ScheduleService

pytestmark = pytest.mark.usefixtures("clean")
MINUTE = "0 * * * * *"


@pytest.fixture
def service(
    pool: asyncpg.Pool, clock: ManualClock, recording: RecordingQueueCore
) -> ScheduleService:
    return ScheduleService(pool, clock, recording)


@pytest.fixture
def loop(
    pool: asyncpg.Pool, dsn: str, clock: ManualClock, recording: RecordingQueueCore
) -> FiringLoop:
    return replica(pool, dsn, clock, recording, "solo")


async def create(service: ScheduleService, tenant: Tenant, cron: str = MINUTE, **kw: Any) -> str:
    return str((await service.create(tenant, fields(cron, **kw)))["id"])


def key(schedule_id: str, clock: ManualClock, minutes: int) -> str:
    """Idempotency key of the tick ``minutes`` after the clock's start (12:00)."""
    start = clock.now().replace(hour=12, minute=0, second=0)
    return f"sched:{schedule_id}:{iso(start + timedelta(minutes=minutes))}"


class TestOnTime:
    async def test_fires_a_due_tick_once_and_records_it(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant, priority=3, tags='{"a": 1}')
        assert await loop.round() == 0  # nothing due yet
        await clock.advance(60)
        assert await loop.round() == 1
        assert await loop.round() == 0  # the same instant: nothing left
        [(org, job)] = recording.calls
        assert org == tenant.org_id
        assert job == JobRequest(
            "cron-q", '{"task":"report"}', 3, 3, 300, '{"a":1}', key(sid, clock, 1)
        )
        row = await schedule_row(pool, sid)
        assert row["run_count"] == 1 and row["last_run_at"] == clock.now()
        assert row["next_run_at"] == clock.now() + timedelta(minutes=1)
        [run] = await runs_of(pool, sid)
        assert (run["status"], run["kind"], run["scheduled_for"]) == (
            "completed",
            "cron",
            clock.now(),
        )
        assert run["job_id"] == recording.jobs[(tenant.org_id, key(sid, clock, 1))]

    async def test_a_follower_never_fires(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        pool: asyncpg.Pool,
        dsn: str,
        clock: ManualClock,
        recording: RecordingQueueCore,
        tenant: Tenant,
    ) -> None:
        await create(service, tenant, cron="*/5 * * * * *")
        await loop.round()  # "solo" leads (for 10 s unless it renews)
        follower = replica(pool, dsn, clock, recording, "follower")
        await clock.advance(5)
        assert await follower.round() == 0 and not recording.calls
        assert await loop.round() == 1

    async def test_paused_schedules_do_not_fire_and_resume_does_not_backfill(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant)
        await service.pause(tenant, sid)
        await clock.advance(300)
        assert await loop.round() == 0
        resumed = await service.resume(tenant, sid)
        assert resumed["next_run_at"] == clock.now() + timedelta(minutes=1)
        await clock.advance(60)
        assert await loop.round() == 1
        assert recording.idempotency_keys() == [key(sid, clock, 6)]


class TestMissedRuns:
    async def test_skip_fires_the_latest_missed_tick_once(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant)
        await clock.advance(600 + 30)  # down from 12:00 to 12:10:30
        assert await loop.round() == 1
        # 12:10 and 12:09:30.. are within the 60 s grace: 12:10 fires; 12:01-12:09 dropped.
        assert recording.idempotency_keys() == [key(sid, clock, 10)]
        missed, fired = await runs_of(pool, sid)
        assert (missed["kind"], missed["status"]) == ("missed", "skipped")
        assert "missed_run_policy=skip" in missed["error_message"]
        assert fired["scheduled_for"].minute == 10
        assert (await schedule_row(pool, sid))["run_count"] == 1

    async def test_skip_when_every_missed_tick_is_old(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant, cron="0 0 * * * *")  # hourly
        await clock.advance(5 * 3600 + 1800)  # 17:30: 13:00-17:00 all missed
        assert await loop.round() == 1
        assert recording.idempotency_keys() == [key(sid, clock, 5 * 60)]

    async def test_catch_up_fires_each_missed_tick_up_to_the_limit(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        all_of_them = await create(service, tenant, missed_run_policy="catch_up")
        bounded = await create(service, tenant, missed_run_policy="catch_up", catch_up_limit=3)
        await clock.advance(600)  # down from 12:00 to 12:10
        assert await loop.round() == 10 + 5
        assert [k for k in recording.idempotency_keys() if all_of_them in k] == [
            key(all_of_them, clock, m) for m in range(1, 11)
        ]
        # Three missed (12:06-12:08) plus the two within the grace (12:09, 12:10).
        assert [k for k in recording.idempotency_keys() if bounded in k] == [
            key(bounded, clock, m) for m in range(6, 11)
        ]
        assert (await schedule_row(pool, bounded))["run_count"] == 5
        assert [r["kind"] for r in await runs_of(pool, bounded)].count("missed") == 1
        assert [r["kind"] for r in await runs_of(pool, all_of_them)].count("missed") == 0


class TestOverlap:
    async def test_skip_while_the_previous_job_is_active(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant, overlap_policy="skip")
        await clock.advance(60)
        assert await loop.round() == 1
        first_job = recording.calls[0][1]
        for status in ("pending", "processing", "scheduled"):
            recording.statuses[recording.jobs[(tenant.org_id, first_job.idempotency_key)]] = status
            await clock.advance(60)
            assert await loop.round() == 0
        recording.statuses[recording.jobs[(tenant.org_id, first_job.idempotency_key)]] = "completed"
        await clock.advance(60)
        assert await loop.round() == 1
        runs = await runs_of(pool, sid)
        assert [r["status"] for r in runs] == [
            "completed",
            "skipped",
            "skipped",
            "skipped",
            "completed",
        ]
        assert "still processing (overlap_policy=skip)" in runs[2]["error_message"]
        assert (await schedule_row(pool, sid))["run_count"] == 2

    async def test_one_pass_with_several_ticks_fires_only_the_first(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant, cron="*/10 * * * * *", overlap_policy="skip")
        await clock.advance(30)
        assert await loop.round() == 1
        assert [r["status"] for r in await runs_of(pool, sid)] == [
            "completed",
            "skipped",
            "skipped",
        ]

    async def test_allow_fires_regardless(
        self, service: ScheduleService, loop: FiringLoop, clock: ManualClock, tenant: Tenant
    ) -> None:
        await create(service, tenant, cron="*/10 * * * * *")
        await clock.advance(30)
        assert await loop.round() == 3


class TestFailures:
    async def test_unavailable_queue_core_leaves_the_tick_due(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        sid = await create(service, tenant)
        await clock.advance(60)
        recording.unavailable = True
        assert await loop.round() == 0
        row = await schedule_row(pool, sid)
        assert row["next_run_at"] == clock.now() and row["run_count"] == 0
        assert await runs_of(pool, sid) == []
        await clock.advance(5)
        recording.unavailable = False
        assert await loop.round() == 1
        assert recording.idempotency_keys() == [key(sid, clock, 1)]

    async def test_a_rejected_job_is_a_failed_run_and_the_cadence_goes_on(
        self,
        service: ScheduleService,
        loop: FiringLoop,
        clock: ManualClock,
        recording: RecordingQueueCore,
        pool: asyncpg.Pool,
        tenant: Tenant,
    ) -> None:
        recording.reject_queue = "cron-q"
        sid = await create(service, tenant)
        await clock.advance(60)
        assert await loop.round() == 0
        [run] = await runs_of(pool, sid)
        assert run["status"] == "failed" and "rejects jobs" in run["error_message"]
        assert (await schedule_row(pool, sid))["next_run_at"] == clock.now() + timedelta(minutes=1)


class SimulatedCrash(BaseException):
    """The process dies between the enqueue and the commit."""


class CrashAfterEnqueue(RecordingQueueCore):
    async def create_job(self, org_id: str, job: JobRequest) -> str:
        job_id = await super().create_job(org_id, job)
        raise SimulatedCrash(job_id)


async def test_a_pass_that_dies_after_enqueue_is_repeated_without_a_second_job(
    service: ScheduleService, pool: asyncpg.Pool, dsn: str, clock: ManualClock, tenant: Tenant
) -> None:
    crashing = CrashAfterEnqueue()
    sid = await create(service, tenant)
    first = replica(pool, dsn, clock, crashing, "doomed", SCHEDULER_LEASE_TTL_SECS=10)
    await clock.advance(60)
    with pytest.raises(SimulatedCrash):
        await first.round()
    assert await runs_of(pool, sid) == []  # rolled back: the tick is still due
    # The successor takes over once the crashed leader's lease expired.
    survivor_core = RecordingQueueCore(jobs=crashing.jobs, statuses=crashing.statuses)
    second = replica(pool, dsn, clock, survivor_core, "survivor")
    assert await second.round() == 0
    await clock.advance(10)
    assert await second.round() == 1
    assert len(crashing.jobs) == 1  # same key, same job
    [run] = await runs_of(pool, sid)
    assert run["job_id"] == crashing.jobs[(tenant.org_id, key(sid, clock, 1))]


class TestLoopPacing:
    """How long the loop sleeps between rounds (``FiringLoop._delay``)."""

    async def test_sleeps_until_the_next_tick_capped_by_the_poll(
        self,
        service: ScheduleService,
        pool: asyncpg.Pool,
        dsn: str,
        clock: ManualClock,
        recording: RecordingQueueCore,
        tenant: Tenant,
    ) -> None:
        loop = replica(pool, dsn, clock, recording, "pacer", SCHEDULER_POLL_INTERVAL_SECS=3)
        await create(service, tenant, cron="*/5 * * * * *")
        await loop.round()
        assert await loop._delay() == 3.0
        await clock.advance(4.5)
        await loop.round()
        assert await loop._delay() == 0.5
        await clock.advance(0.7)  # the tick came due after the round: go at once
        assert await loop._delay() == 0.0

    async def test_a_deferred_tick_is_retried_after_a_poll_not_in_a_tight_loop(
        self,
        service: ScheduleService,
        pool: asyncpg.Pool,
        dsn: str,
        clock: ManualClock,
        recording: RecordingQueueCore,
        tenant: Tenant,
    ) -> None:
        loop = replica(pool, dsn, clock, recording, "pacer", SCHEDULER_POLL_INTERVAL_SECS=3)
        await create(service, tenant, cron="*/5 * * * * *")
        await clock.advance(5)
        recording.unavailable = True
        await loop.round()
        assert await loop._delay() == 3.0

    async def test_a_follower_polls(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        clock: ManualClock,
        recording: RecordingQueueCore,
        loop: FiringLoop,
    ) -> None:
        await loop.round()
        follower = replica(pool, dsn, clock, recording, "other")
        await follower.round()
        assert await follower._delay() == 1.0
