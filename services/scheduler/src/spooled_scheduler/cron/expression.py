"""Cron expressions on naive wall-clock time: parsing and "next matching second".

Accepted forms (API.md §8, plus the classic 5-field form):

* 6 fields: ``sec min hour day-of-month month day-of-week`` (seconds first);
* 5 fields: ``min hour day-of-month month day-of-week`` (seconds = 0).

Per field: ``*`` (``?`` is read as ``*``), a value, ``a-b``, lists ``a,b,c``,
``*/N``, ``a-b/N`` and ``a/N``. ``*/N`` means "value % N == 0", as upstream
(for day-of-month and month that is 5, 10, … rather than 1, 6, …); ``a-b/N``
and ``a/N`` step from ``a``. Months and weekdays also take English names
(``JAN``, ``MON``), and weekday ``7`` is Sunday like ``0``.

When both day-of-month and day-of-week are restricted, a day matches if
*either* does (POSIX cron); with one of them ``*`` only the other counts.

This module knows nothing about time zones: :mod:`.schedule` maps wall times
to instants.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Expression length bounds (upstream: 9..100 characters).
MIN_LENGTH = 9
MAX_LENGTH = 100
#: How far ahead a match is searched for; Feb 29 on a given weekday recurs
#: within 28 years, so anything that matches at all matches within this.
SEARCH_YEARS = 30

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class CronError(ValueError):
    """The expression cannot be parsed; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    #: Names start at this value (JAN = 1, SUN = 0).
    names_base: int = 0


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    # 7 is accepted as Sunday and folded onto 0 after parsing.
    _Field("day-of-week", 0, 7, _DAYS, 0),
)


def _value(field: _Field, text: str) -> int:
    upper = text.upper()
    if field.names and upper in field.names:
        return field.names.index(upper) + field.names_base
    if not text.isdigit():
        raise CronError(f"{field.name}: '{text}' is not a number")
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name}: {value} is out of range {field.low}-{field.high}")
    return value


def _step(field: _Field, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= field.high:
        raise CronError(f"{field.name}: step '{text}' must be a number from 1 to {field.high}")
    return int(text)


def _part(field: _Field, part: str) -> set[int]:
    """One comma-separated element of a field."""
    base, slash, step_text = part.partition("/")
    step = _step(field, step_text) if slash else 1
    if base in ("*", "?"):
        if slash:  # upstream: value % N == 0
            return {v for v in range(field.low, field.high + 1) if v % step == 0}
        return set(range(field.low, field.high + 1))
    if "-" in base:
        first_text, _, last_text = base.partition("-")
        first, last = _value(field, first_text), _value(field, last_text)
        if first > last:
            raise CronError(f"{field.name}: range {base} runs backwards")
    else:
        first = _value(field, base)
        last = field.high if slash else first
    return set(range(first, last + 1, step))


def _parse_field(field: _Field, text: str) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is restricted at all."""
    if not text:
        raise CronError(f"{field.name}: empty field")
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field.name}: empty list element in '{text}'")
        values |= _part(field, part)
    restricted = text not in ("*", "?")
    return frozenset(values), restricted


@dataclass(frozen=True)
class CronExpression:
    """A parsed expression: the allowed values of each field, as sorted tuples."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: Day-of-month and day-of-week each restricted (not ``*``)?
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse a 5- or 6-field expression.

        Raises:
            CronError: with a message naming the offending field.
        """
        text = text.strip()
        if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
            raise CronError(f"must be {MIN_LENGTH}-{MAX_LENGTH} characters long")
        parts = text.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        elif len(parts) != 6:
            raise CronError(
                f"expected 6 fields (second minute hour day-of-month month day-of-week) "
                f"or 5 (minute hour day-of-month month day-of-week), got {len(parts)}"
            )
        parsed = [_parse_field(f, p) for f, p in zip(_FIELDS, parts, strict=True)]
        (sec, _), (mins, _), (hours, _), (days, dr), (months, _), (dows, wr) = parsed
        dows = frozenset(0 if d == 7 else d for d in dows)
        return cls(
            text,
            tuple(sorted(sec)),
            tuple(sorted(mins)),
            tuple(sorted(hours)),
            days,
            months,
            dows,
            dr,
            wr,
        )

    @property
    def every_hour(self) -> bool:
        """The hour field allows all 24 hours (the schedule is periodic within a day)."""
        return len(self.hours) == 24

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def next_wall(self, after: datetime) -> datetime | None:
        """The first matching naive wall time strictly after ``after`` (whole seconds).

        Returns None when nothing matches within :data:`SEARCH_YEARS` (e.g. Feb 30).
        """
        t = after.replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
        last_year = t.year + SEARCH_YEARS
        while t.year <= last_year:
            if not self.day_matches(t):
                t = _next_day(t)
                continue
            hour = _at_or_after(self.hours, t.hour)
            if hour is None:
                t = _next_day(t)
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _at_or_after(self.minutes, t.minute)
            if minute is None:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _at_or_after(self.seconds, t.second)
            if second is None:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            return t.replace(second=second)
        return None


def _at_or_after(values: tuple[int, ...], current: int) -> int | None:
    i = bisect.bisect_left(values, current)
    return values[i] if i < len(values) else None


def _next_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
