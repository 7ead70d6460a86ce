"""Cron parsing and wall-clock matching (no time zones here)."""

from __future__ import annotations

from datetime import datetime

import pytest
from spooled_scheduler.cron import CronError, CronExpression, CronSchedule


def walls(expr: str, start: datetime, n: int) -> list[datetime]:
    parsed = CronExpression.parse(expr)
    out: list[datetime] = []
    t: datetime | None = start
    for _ in range(n):
        t = parsed.next_wall(t)  # type: ignore[arg-type]
        assert t is not None
        out.append(t)
    return out


class TestParse:
    def test_six_fields_seconds_first(self) -> None:
        e = CronExpression.parse("*/15 30 2 * * *")
        assert e.seconds == (0, 15, 30, 45) and e.minutes == (30,) and e.hours == (2,)

    def test_five_fields_fire_at_second_zero(self) -> None:
        e = CronExpression.parse("*/10 * * * *")
        assert e.seconds == (0,) and e.minutes == (0, 10, 20, 30, 40, 50)

    def test_lists_ranges_and_steps(self) -> None:
        e = CronExpression.parse("0 1,2,5-7 8-20/4 * * *")
        assert e.minutes == (1, 2, 5, 6, 7) and e.hours == (8, 12, 16, 20)
        assert CronExpression.parse("10/20 * * * * *").seconds == (10, 30, 50)

    def test_star_step_is_value_modulo_n(self) -> None:
        # Upstream semantics: */5 on day-of-month means 5, 10, ... (not 1, 6, ...).
        e = CronExpression.parse("0 0 0 */10 * *")
        assert sorted(e.days) == [10, 20, 30]

    def test_names_question_mark_and_sunday_seven(self) -> None:
        e = CronExpression.parse("0 0 9 ? jan-MAR MON,wed,7")
        assert e.months == {1, 2, 3} and e.weekdays == {1, 3, 0}
        assert not e.days_restricted

    @pytest.mark.parametrize(
        ("expr", "fragment"),
        [
            ("00 00 00 00", "expected 6 fields"),
            ("0  1  2  3", "got 4"),
            ("* * * * * * *", "got 7"),
            ("60 * * * * *", "second: 60 is out of range 0-59"),
            ("0 0 24 * * *", "hour: 24 is out of range"),
            ("0 0 0 0 * *", "day-of-month: 0 is out of range 1-31"),
            ("0 0 0 * 13 *", "month: 13"),
            ("0 0 0 * * 8", "day-of-week: 8"),
            ("*/0 * * * * *", "step '0'"),
            ("*/61 * * * * *", "step '61'"),
            ("0 30-10 * * * *", "runs backwards"),
            ("0 a * * * *", "'a' is not a number"),
            ("0 1,,2 * * * *", "empty list element"),
            ("* * *", "9-100 characters"),
            ("0 " * 60, "9-100 characters"),
        ],
    )
    def test_errors_name_the_problem(self, expr: str, fragment: str) -> None:
        with pytest.raises(CronError, match=fragment.replace("*", r"\*")):
            CronExpression.parse(expr)

    def test_never_matching_dates_are_refused(self) -> None:
        with pytest.raises(CronError, match="never matches"):
            CronSchedule.parse("0 0 0 30 2 *")


class TestNextWall:
    def test_every_five_seconds(self) -> None:
        got = walls("*/5 * * * * *", datetime(2026, 1, 1, 0, 0, 57), 3)
        assert got == [
            datetime(2026, 1, 1, 0, 1, 0),
            datetime(2026, 1, 1, 0, 1, 5),
            datetime(2026, 1, 1, 0, 1, 10),
        ]

    def test_strictly_after_and_ignores_microseconds(self) -> None:
        e = CronExpression.parse("0 0 12 * * *")
        assert e.next_wall(datetime(2026, 1, 1, 12, 0, 0)) == datetime(2026, 1, 2, 12)
        assert e.next_wall(datetime(2026, 1, 1, 11, 59, 59, 999)) == datetime(2026, 1, 1, 12)

    def test_rolls_over_month_and_year(self) -> None:
        assert walls("0 0 0 31 * *", datetime(2026, 1, 31, 1), 2) == [
            datetime(2026, 3, 31),
            datetime(2026, 5, 31),
        ]
        assert walls("0 0 0 1 1 *", datetime(2026, 6, 1), 1) == [datetime(2027, 1, 1)]
        assert walls("0 0 0 29 2 *", datetime(2026, 1, 1), 1) == [datetime(2028, 2, 29)]

    def test_day_of_month_or_day_of_week_when_both_restricted(self) -> None:
        # POSIX: the 13th, or any Friday.
        got = walls("0 0 0 13 * 5", datetime(2026, 2, 1), 4)
        assert got == [
            datetime(2026, 2, 6),
            datetime(2026, 2, 13),
            datetime(2026, 2, 20),
            datetime(2026, 2, 27),
        ]

    def test_day_of_week_alone(self) -> None:
        got = walls("0 0 9 * * 1-5", datetime(2026, 6, 5, 10), 2)  # a Friday
        assert got == [datetime(2026, 6, 8, 9), datetime(2026, 6, 9, 9)]
