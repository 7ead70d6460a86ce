"""Firing instants in IANA zones across DST changes (the rule in cron/schedule.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spooled_scheduler.cron import CronExpression, CronSchedule, TimezoneError, parse_timezone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    return CronSchedule.parse(expr, tz).ticks(start, end, 100_000)


class TestFixedTimeAcrossDst:
    """``0 30 2 * * *`` in Europe/Berlin: 02:30 local, once a day, every day."""

    def test_spring_forward_fires_once_at_end_of_gap(self) -> None:
        # 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist.
        got = fires("0 30 2 * * *", "Europe/Berlin", utc(2026, 3, 28), utc(2026, 3, 31))
        assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
        tz = parse_timezone("Europe/Berlin")
        assert got[1].astimezone(tz).strftime("%H:%M %Z") == "03:00 CEST"

    def test_fall_back_fires_once_at_first_occurrence(self) -> None:
        # 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice.
        got = fires("0 30 2 * * *", "Europe/Berlin", utc(2026, 10, 24), utc(2026, 10, 27))
        assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]

    def test_from_inside_the_repeated_hour_does_not_fire_again(self) -> None:
        second_0230 = utc(2026, 10, 25, 1, 15)  # 02:15 CET, the second pass
        s = CronSchedule.parse("0 30 2 * * *", "Europe/Berlin")
        assert s.next_after(second_0230) == utc(2026, 10, 26, 1, 30)

    def test_new_york_dates(self) -> None:
        # US: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
        spring = fires("0 30 2 * * *", "America/New_York", utc(2026, 3, 8), utc(2026, 3, 9))
        assert spring == [utc(2026, 3, 8, 7, 0)]  # 03:00 EDT
        fall = fires("0 30 1 * * *", "America/New_York", utc(2026, 11, 1), utc(2026, 11, 2))
        assert fall == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT, not 01:30 EST

    def test_several_vanished_times_collapse_into_one(self) -> None:
        got = fires("0 0,20,40 2 * * *", "Europe/Berlin", utc(2026, 3, 29), utc(2026, 3, 29, 4))
        assert got == [utc(2026, 3, 29, 1, 0)]


class TestPeriodicAcrossDst:
    """Hour field ``*``: elapsed-time cadence, including the repeated hour."""

    def test_every_five_seconds_fires_twelve_times_a_minute(self) -> None:
        for tz in ("UTC", "Europe/Berlin", "+05:30"):
            got = fires("*/5 * * * * *", tz, utc(2026, 6, 7, 12), utc(2026, 6, 7, 12, 0, 59))
            assert len(got) == 12, tz

    def test_keeps_cadence_through_fall_back(self) -> None:
        got = fires(
            "*/5 * * * * *", "Europe/Berlin", utc(2026, 10, 24, 23), utc(2026, 10, 25, 2, 59, 59)
        )
        assert len(got) == 4 * 720  # four hours of elapsed time, local 01:00-03:00 twice over
        assert all(b - a == timedelta(seconds=5) for a, b in itertools.pairwise(got))

    def test_hourly_through_both_changes(self) -> None:
        spring = fires("0 15 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
        assert spring == [
            utc(2026, 3, 28, 23, 15),
            utc(2026, 3, 29, 0, 15),
            utc(2026, 3, 29, 1, 15),
            utc(2026, 3, 29, 2, 15),
        ]
        fall = fires("0 15 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
        assert len(fall) == 4  # 02:15 CEST and 02:15 CET both fire

    def test_half_hour_dst_shift(self) -> None:
        # Lord Howe moves by 30 minutes (2026-04-05 02:00 +11 → 01:30 +10:30).
        got = fires(
            "0 */30 * * * *", "Australia/Lord_Howe", utc(2026, 4, 4, 14), utc(2026, 4, 4, 16)
        )
        assert all(b > a for a, b in itertools.pairwise(got))
        # 01:00, 01:30 (+11), then 01:30 again (+10:30), 02:00, 02:30: every 30 minutes.
        assert [t.minute for t in got] == [0, 30, 0, 30, 0]


class TestTimezones:
    @pytest.mark.parametrize(
        "name",
        [
            "UTC",
            "GMT",
            "Europe/Berlin",
            "Asia/Kolkata",
            "Etc/GMT+5",
            "America/Argentina/Buenos_Aires",
            "+05:30",
            "-08:00",
        ],
    )
    def test_accepted(self, name: str) -> None:
        parse_timezone(name)

    @pytest.mark.parametrize(
        "name",
        ["Mars/Olympus", "europe/berlin", "", "../../etc/passwd", "+15:00", "+05:75", "CET5CEST"],
    )
    def test_refused_with_guidance(self, name: str) -> None:
        with pytest.raises(TimezoneError, match="timezone"):
            parse_timezone(name)

    def test_fixed_offset(self) -> None:
        s = CronSchedule.parse("0 0 9 * * *", "+05:30")
        assert s.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 30)


# -- properties ----------------------------------------------------------------

_BERLIN = parse_timezone("Europe/Berlin")
_AROUND_SWITCHES = st.sampled_from(
    [utc(2026, 3, 29, 0, 40), utc(2026, 10, 25, 0, 40), utc(2026, 6, 1, 0, 40)]
)


def _wall_matches(expr: CronExpression, instant: datetime) -> bool:
    w = instant.astimezone(_BERLIN)
    return (
        w.second in expr.seconds
        and w.minute in expr.minutes
        and w.hour in expr.hours
        and expr.day_matches(w)
    )


@settings(max_examples=40, deadline=None)
@given(
    base=_AROUND_SWITCHES,
    offset=st.integers(0, 3 * 3600),
    minute=st.sampled_from(["*", "*/7", "5,35", "0"]),
    second=st.sampled_from(["0", "*/20"]),
)
def test_periodic_matches_brute_force(
    base: datetime, offset: int, minute: str, second: str
) -> None:
    """Hour ``*``: the next fire is exactly the next second whose wall time matches."""
    expr_text = f"{second} {minute} * * * *"
    s = CronSchedule.parse(expr_text, "Europe/Berlin")
    start = base + timedelta(seconds=offset)
    got = s.next_after(start)
    assert got is not None
    t = start.replace(microsecond=0) + timedelta(seconds=1)
    while not _wall_matches(s.expression, t):
        t += timedelta(seconds=1)
    assert got == t


@settings(max_examples=40, deadline=None)
@given(
    base=_AROUND_SWITCHES,
    offset=st.integers(0, 4 * 3600),
    hour=st.sampled_from(["1", "2", "3", "1-3"]),
    minute=st.sampled_from(["0", "30", "*/20"]),
)
def test_fixed_time_fires_each_wall_time_once_per_day(
    base: datetime, offset: int, hour: str, minute: str
) -> None:
    """Hour restricted: successive fires are strictly increasing and no wall time
    (day, hour, minute, second) is fired twice."""
    s = CronSchedule.parse(f"0 {minute} {hour} * * *", "Europe/Berlin")
    got = s.ticks(base + timedelta(seconds=offset), base + timedelta(days=1), 1000)
    assert got == sorted(set(got))
    walls = [t.astimezone(_BERLIN).replace(tzinfo=None) for t in got]
    assert len(walls) == len(set(walls))
