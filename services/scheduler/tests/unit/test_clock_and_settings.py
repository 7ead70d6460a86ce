"""The manual clock tests drive time with, and fail-fast settings checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sched_helpers import scheduler_settings
from spooled_scheduler.clock import ManualClock, SystemClock

T = datetime(2026, 1, 1, tzinfo=UTC)


class TestManualClock:
    async def test_sleep_returns_once_time_has_moved_far_enough(self) -> None:
        clock = ManualClock(T)
        sleeper = asyncio.create_task(clock.sleep(10))
        await asyncio.sleep(0)
        await clock.advance(9)
        await asyncio.sleep(0)
        assert not sleeper.done()
        await clock.advance(1)
        await asyncio.wait_for(sleeper, 1)
        assert clock.now() == T + timedelta(seconds=10)

    async def test_never_goes_backwards(self) -> None:
        clock = ManualClock(T)
        with pytest.raises(ValueError, match="backwards"):
            await clock.set(T - timedelta(seconds=1))

    def test_needs_an_aware_start(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            ManualClock(datetime(2026, 1, 1))

    def test_system_clock_is_utc(self) -> None:
        assert SystemClock().now().tzinfo is UTC


class TestSettingsCheck:
    def test_defaults_are_consistent(self) -> None:
        scheduler_settings("postgresql://x/y").check()

    @pytest.mark.parametrize(
        ("env", "fragment"),
        [
            ({"SCHEDULER_POLL_INTERVAL_SECS": 5, "SCHEDULER_LEASE_TTL_SECS": 10}, "a third"),
            ({"SCHEDULER_MISFIRE_GRACE_SECS": 5}, "leader handover"),
            ({"SCHEDULER_BATCH_SIZE": 0}, "BATCH_SIZE"),
            ({"SCHEDULER_LEASE_TTL_SECS": 0}, "positive"),
        ],
    )
    def test_unsafe_values_fail_fast(self, env: dict[str, object], fragment: str) -> None:
        with pytest.raises(SystemExit, match=fragment):
            scheduler_settings("postgresql://x/y", **env).check()

    def test_instance_ids_differ_per_process_object(self) -> None:
        from spooled_scheduler.settings import SchedulerSettings

        assert SchedulerSettings().instance_id != SchedulerSettings().instance_id
