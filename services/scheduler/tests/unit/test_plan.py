"""The missed-run policy as a pure function (firing/plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spooled_scheduler.cron import CronSchedule
from spooled_scheduler.firing.plan import MAX_TICKS_PER_PASS, latest_ticks, plan

GRACE = timedelta(seconds=60)
NOW = datetime(2026, 6, 7, 12, 0, 0, tzinfo=UTC)
EVERY_MINUTE = CronSchedule.parse("0 * * * * *")


def ago(seconds: int) -> datetime:
    return NOW - timedelta(seconds=seconds)


class TestLateTicks:
    def test_on_time_tick_fires(self) -> None:
        p = plan(EVERY_MINUTE, NOW, NOW, policy="skip", catch_up_limit=10, grace=GRACE)
        assert p.ticks == [NOW] and p.dropped is None
        assert p.next_run_at == NOW + timedelta(minutes=1)

    def test_every_tick_within_grace_fires_whatever_the_policy(self) -> None:
        every_5s = CronSchedule.parse("*/5 * * * * *")
        for policy in ("skip", "catch_up"):
            p = plan(every_5s, ago(55), NOW, policy=policy, catch_up_limit=1, grace=GRACE)
            assert p.ticks == [ago(s) for s in range(55, -1, -5)]
            assert p.dropped is None

    def test_nothing_due_yet(self) -> None:
        p = plan(
            EVERY_MINUTE,
            NOW + timedelta(minutes=1),
            NOW,
            policy="skip",
            catch_up_limit=10,
            grace=GRACE,
        )
        assert p.ticks == [] and p.next_run_at == NOW + timedelta(minutes=1)


class TestMissedTicks:
    def test_skip_fires_only_the_latest_missed_tick(self) -> None:
        hourly = CronSchedule.parse("0 0 * * * *")
        p = plan(hourly, ago(5 * 3600), NOW, policy="skip", catch_up_limit=10, grace=GRACE)
        # 07:00-11:00 were missed; 12:00 is on time and stands for them.
        assert p.ticks == [NOW]
        assert p.dropped == (ago(5 * 3600), NOW)

    def test_skip_without_a_late_tick_fires_the_latest_once(self) -> None:
        hourly = CronSchedule.parse("0 0 * * * *")
        now = NOW + timedelta(minutes=30)
        p = plan(
            hourly, NOW - timedelta(hours=5), now, policy="skip", catch_up_limit=10, grace=GRACE
        )
        assert p.ticks == [NOW]
        assert p.dropped == (NOW - timedelta(hours=5), NOW)
        assert p.next_run_at == NOW + timedelta(hours=1)

    def test_catch_up_fires_each_missed_tick_up_to_the_limit(self) -> None:
        hourly = CronSchedule.parse("0 0 * * * *")
        now = NOW + timedelta(minutes=30)
        p = plan(
            hourly, NOW - timedelta(hours=5), now, policy="catch_up", catch_up_limit=10, grace=GRACE
        )
        assert p.ticks == [NOW - timedelta(hours=h) for h in range(5, -1, -1)]
        assert p.dropped is None
        bounded = plan(
            hourly, NOW - timedelta(hours=5), now, policy="catch_up", catch_up_limit=3, grace=GRACE
        )
        assert bounded.ticks == [NOW - timedelta(hours=h) for h in (2, 1, 0)]
        assert bounded.dropped == (NOW - timedelta(hours=5), NOW - timedelta(hours=2))

    def test_long_downtime_of_a_per_second_schedule_stays_cheap(self) -> None:
        every_second = CronSchedule.parse("* * * * * *")
        week_ago = NOW - timedelta(days=7)
        p = plan(every_second, week_ago, NOW, policy="catch_up", catch_up_limit=1000, grace=GRACE)
        # 1000 missed (the most recent ones) + 61 late (NOW-60s .. NOW).
        assert len(p.ticks) == 1061 and p.ticks[-1] == NOW
        assert p.ticks[0] == NOW - timedelta(seconds=1060)
        assert p.dropped == (week_ago, p.ticks[0])

    def test_late_ticks_are_capped_per_pass(self) -> None:
        every_second = CronSchedule.parse("* * * * * *")
        big_grace = timedelta(hours=1)
        p = plan(
            every_second,
            NOW - timedelta(minutes=30),
            NOW,
            policy="skip",
            catch_up_limit=1,
            grace=big_grace,
        )
        assert len(p.ticks) == MAX_TICKS_PER_PASS
        assert p.next_run_at == p.ticks[-1] + timedelta(seconds=1)


def test_latest_ticks_of_a_sparse_schedule() -> None:
    yearly = CronSchedule.parse("0 0 0 1 1 *")
    got = latest_ticks(yearly, datetime(2020, 1, 1, tzinfo=UTC), NOW, 2)
    assert got == [datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
