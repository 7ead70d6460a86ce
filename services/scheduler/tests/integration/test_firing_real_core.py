"""Firing through the real queue-core (in-process, loopback gRPC), with a manual clock.

Jobs are counted in queue-core's own table: one job per tick, keyed
``sched:<schedule_id>:<tick>``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sched_helpers import core_jobs, fields, replica, runs_of
from spooled_common.tenant import Tenant
from spooled_queue_core.app import QueueCoreApp
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.cron import parse_timezone
from spooled_scheduler.firing.loop import FiringLoop
from spooled_scheduler.queue_core import QueueCoreClient
from spooled_scheduler.schedules.service import ScheduleService

pytestmark = pytest.mark.usefixtures("clean")
BERLIN = parse_timezone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def drive(
    loops: list[FiringLoop], clock: ManualClock, until: datetime, step: float = 600
) -> None:
    """Move time the way the real loop sleeps: to the earliest due tick, or by
    ``step`` (a poll) if that comes first; every replica runs a round at each stop."""
    while clock.now() < until:
        target = clock.now() + timedelta(seconds=step)
        due = await loops[0].firer.earliest_due()
        if due is not None and due > clock.now():
            target = min(target, due)
        await clock.set(min(target, until))
        for loop in loops:
            await loop.round()


async def job_ticks(pool: asyncpg.Pool, org: str, schedule_id: str) -> list[str]:
    prefix = f"sched:{schedule_id}:"
    return [
        j["idempotency_key"].removeprefix(prefix)
        for j in await core_jobs(pool, org)
        if j["idempotency_key"].startswith(prefix)
    ]


@pytest.fixture
def setup(pool: asyncpg.Pool, dsn: str, core_client: QueueCoreClient, tenant: Tenant) -> Any:
    def make(clock: ManualClock) -> tuple[ScheduleService, FiringLoop]:
        return (
            ScheduleService(pool, clock, core_client),
            replica(pool, dsn, clock, core_client, "real-core"),
        )

    return make


class TestDaylightSavingDays:
    """``0 30 2 * * *`` in Europe/Berlin: exactly one job on each switch day."""

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            # 2026-03-29: 02:00 CET → 03:00 CEST. 02:30 does not exist → 03:00 CEST.
            (utc(2026, 3, 28, 12), ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
            # 2026-10-25: 03:00 CEST → 02:00 CET. 02:30 happens twice → the first one.
            (utc(2026, 10, 24, 12), ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        ],
    )
    async def test_switch_day(
        self, setup: Any, pool: asyncpg.Pool, tenant: Tenant, start: datetime, expected: list[str]
    ) -> None:
        clock = ManualClock(start)
        service, loop = setup(clock)
        row = await service.create(tenant, fields("0 30 2 * * *", timezone="Europe/Berlin"))
        await drive([loop], clock, start + timedelta(days=2))
        assert await job_ticks(pool, tenant.org_id, row["id"]) == expected
        switch_day = expected[0][:10]
        local_days = [
            datetime.fromisoformat(t).astimezone(BERLIN).date().isoformat() for t in expected
        ]
        assert local_days.count(switch_day) == 1
        runs = await runs_of(pool, row["id"])
        assert [r["status"] for r in runs] == ["completed", "completed"]

    async def test_polling_every_minute_through_the_night_changes_nothing(
        self, setup: Any, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        clock = ManualClock(utc(2026, 10, 24, 23, 0))
        service, loop = setup(clock)
        row = await service.create(tenant, fields("0 30 2 * * *", timezone="Europe/Berlin"))
        await drive([loop], clock, utc(2026, 10, 25, 3, 0), step=60)
        assert await job_ticks(pool, tenant.org_id, row["id"]) == ["2026-10-25T00:30:00Z"]


async def test_every_five_seconds_over_a_minute(
    setup: Any, pool: asyncpg.Pool, tenant: Tenant
) -> None:
    start = utc(2026, 6, 7, 12, 0, 0)
    clock = ManualClock(start)
    service, loop = setup(clock)
    row = await service.create(tenant, fields("*/5 * * * * *"))
    for _ in range(60):
        await clock.advance(1)
        await loop.round()
    ticks = await job_ticks(pool, tenant.org_id, row["id"])
    assert ticks == [
        (start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in range(5, 61, 5)
    ]
    job = (await core_jobs(pool, tenant.org_id))[0]
    assert job["payload"] == {"task": "report"} and job["queue_name"] == "cron-q"


async def test_overlap_skip_waits_for_the_real_job(
    setup: Any, pool: asyncpg.Pool, tenant: Tenant, queue_core: QueueCoreApp
) -> None:
    clock = ManualClock(utc(2026, 6, 7, 12, 0, 0))
    service, loop = setup(clock)
    row = await service.create(tenant, fields("*/10 * * * * *", overlap_policy="skip"))
    await clock.advance(10)
    assert await loop.round() == 1
    await clock.advance(10)
    assert await loop.round() == 0  # the first job is still pending
    assert queue_core.services is not None
    [claimed] = await queue_core.services.leases.claim(tenant, "cron-q", "w1", limit=1)
    await clock.advance(10)
    assert await loop.round() == 0  # ... and now processing
    await queue_core.services.leases.complete(
        tenant, claimed["id"], "w1", claimed["lease_id"], None
    )
    await clock.advance(10)
    assert await loop.round() == 1
    assert [r["status"] for r in await runs_of(pool, row["id"])] == [
        "completed",
        "skipped",
        "skipped",
        "completed",
    ]
    assert len(await job_ticks(pool, tenant.org_id, row["id"])) == 2
