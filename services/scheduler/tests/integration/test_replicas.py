"""Exactly once across replicas: two schedulers on one database, the real queue-core.

Guards the invariants of the leader lease (firing/leader.py), the fence in
each firing transaction (``hold_leadership``), the per-tick idempotency key
(``tick_key``) and the unique (schedule, tick) run row.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sched_helpers import core_jobs, fields, iso, replica, runs_of, schedule_row
from spooled_common.db import maintenance_tx
from spooled_common.tenant import Tenant
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.firing.loop import FiringLoop
from spooled_scheduler.queue_core import JobRequest, QueueCoreClient
from spooled_scheduler.schedules.service import ScheduleService

pytestmark = pytest.mark.usefixtures("clean")
START = datetime(2026, 6, 7, 12, 0, 0, tzinfo=UTC)
TTL = 10


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def pair(
    pool: asyncpg.Pool, dsn: str, clock: ManualClock, core_client: QueueCoreClient
) -> tuple[FiringLoop, FiringLoop]:
    return (
        replica(pool, dsn, clock, core_client, "replica-a", SCHEDULER_LEASE_TTL_SECS=TTL),
        replica(pool, dsn, clock, core_client, "replica-b", SCHEDULER_LEASE_TTL_SECS=TTL),
    )


async def every_second(
    pool: asyncpg.Pool, clock: ManualClock, core: QueueCoreClient, tenant: Tenant, n: int = 1
) -> list[str]:
    service = ScheduleService(pool, clock, core)
    return [
        str((await service.create(tenant, fields("* * * * * *", name=f"s{i}")))["id"])
        for i in range(n)
    ]


async def assert_each_tick_once(pool: asyncpg.Pool, org: str, schedule_id: str, ticks: int) -> None:
    """One job per tick 1..ticks, no other, and one run row per tick."""
    keys = [
        j["idempotency_key"]
        for j in await core_jobs(pool, org)
        if j["idempotency_key"].startswith(f"sched:{schedule_id}:")
    ]
    expected = [
        f"sched:{schedule_id}:{iso(START + timedelta(seconds=s))}" for s in range(1, ticks + 1)
    ]
    duplicates = [k for k, c in Counter(keys).items() if c > 1]
    assert not duplicates
    assert sorted(keys) == expected, f"missing: {sorted(set(expected) - set(keys))[:5]}"
    runs = await runs_of(pool, schedule_id)
    assert sorted(r["scheduled_for"] for r in runs) == [
        START + timedelta(seconds=s) for s in range(1, ticks + 1)
    ]
    assert all(r["status"] == "completed" for r in runs)
    assert (await schedule_row(pool, schedule_id))["run_count"] == ticks


async def leader_of(pool: asyncpg.Pool) -> str | None:
    async with maintenance_tx(pool) as conn:
        return await conn.fetchval("SELECT holder FROM scheduler.leader")  # type: ignore[no-any-return]


async def test_two_replicas_over_100_ticks_no_duplicate_no_gap(
    pair: tuple[FiringLoop, FiringLoop],
    pool: asyncpg.Pool,
    clock: ManualClock,
    core_client: QueueCoreClient,
    tenant: Tenant,
) -> None:
    ids = await every_second(pool, clock, core_client, tenant, n=3)
    leaders = set()
    for _ in range(100):
        await clock.advance(1)
        # Both replicas race for every tick, concurrently.
        fired = await asyncio.gather(pair[0].round(), pair[1].round())
        assert sum(fired) == 3
        leaders.add(await leader_of(pool))
    assert len(leaders) == 1  # the lease is stable while its holder renews
    for sid in ids:
        await assert_each_tick_once(pool, tenant.org_id, sid, 100)


async def test_killed_leader_hands_over_within_one_lease_period(
    pair: tuple[FiringLoop, FiringLoop],
    pool: asyncpg.Pool,
    clock: ManualClock,
    core_client: QueueCoreClient,
    tenant: Tenant,
) -> None:
    [sid] = await every_second(pool, clock, core_client, tenant)
    a, b = pair
    await a.round()  # a leads
    await b.round()
    assert await leader_of(pool) == "replica-a"
    killed_at = None
    took_over_at = None
    for second in range(1, 101):
        await clock.advance(1)
        if second <= 40:
            await a.round()  # a is alive (renewing) for the first 40 seconds
            killed_at = clock.now()
        await b.round()
        if took_over_at is None and await leader_of(pool) == "replica-b":
            took_over_at = clock.now()
    assert killed_at is not None and took_over_at is not None
    assert took_over_at - killed_at <= timedelta(seconds=TTL)
    # The ticks that came due during the handover were fired late, not lost.
    await assert_each_tick_once(pool, tenant.org_id, sid, 100)


class SimulatedCrash(BaseException):
    """The leader process dies between queue-core's answer and its own commit."""


class CrashingCore(QueueCoreClient):
    def __init__(self, real: QueueCoreClient, crash_on_call: int) -> None:
        self._real = real
        self._calls = 0
        self._crash_on_call = crash_on_call

    async def create_job(self, org_id: str, job: JobRequest) -> str:
        job_id = await self._real.create_job(org_id, job)
        self._calls += 1
        if self._calls == self._crash_on_call:
            raise SimulatedCrash(job_id)
        return job_id

    async def job_status(self, org_id: str, job_id: str) -> str | None:
        return await self._real.job_status(org_id, job_id)


async def test_leader_dying_mid_pass_loses_and_duplicates_nothing(
    pool: asyncpg.Pool, dsn: str, clock: ManualClock, core_client: QueueCoreClient, tenant: Tenant
) -> None:
    [sid] = await every_second(pool, clock, core_client, tenant)
    doomed = replica(
        pool,
        dsn,
        clock,
        CrashingCore(core_client, crash_on_call=25),
        "doomed",
        SCHEDULER_LEASE_TTL_SECS=TTL,
    )
    survivor = replica(pool, dsn, clock, core_client, "survivor", SCHEDULER_LEASE_TTL_SECS=TTL)
    alive = True
    for _ in range(60):
        await clock.advance(1)
        if alive:
            try:
                await doomed.round()
            except SimulatedCrash:
                alive = False  # enqueued tick 25, then died before committing it
        await survivor.round()
    await assert_each_tick_once(pool, tenant.org_id, sid, 60)


async def test_a_stale_leader_is_fenced_out(
    pair: tuple[FiringLoop, FiringLoop],
    pool: asyncpg.Pool,
    clock: ManualClock,
    core_client: QueueCoreClient,
    tenant: Tenant,
) -> None:
    """A leader that was paused past its lease still believes it leads; its
    firing transaction re-checks the lease and fires nothing."""
    [sid] = await every_second(pool, clock, core_client, tenant)
    a, b = pair
    await a.round()
    await clock.advance(TTL + 1)
    await b.round()  # b takes over and fires
    assert await leader_of(pool) == "replica-b"
    # a resumes mid-pass, straight into the firer (skipping its own renewal).
    await clock.advance(1)
    assert await a.firer.run_once() == 0
    assert await b.round() == 1
    await assert_each_tick_once(pool, tenant.org_id, sid, TTL + 2)


async def test_clean_shutdown_resigns_so_the_successor_need_not_wait(
    pair: tuple[FiringLoop, FiringLoop],
    pool: asyncpg.Pool,
    clock: ManualClock,
    core_client: QueueCoreClient,
    tenant: Tenant,
) -> None:
    await every_second(pool, clock, core_client, tenant)
    a, b = pair
    await a.round()
    await a.stop()
    await clock.advance(1)
    assert await b.round() == 1
    assert await leader_of(pool) == "replica-b"
