"""When a cron expression fires, as instants, in an IANA time zone.

The expression is matched against *wall-clock* time in the schedule's zone.
Daylight-saving changes make some wall times not exist and others occur twice;
the rule, chosen so that no switch day ever has a double or a missing run:

* **Spring forward (gap).** A wall time that does not exist fires once, at the
  first instant after the gap. ``0 30 2 * * *`` in Europe/Berlin on
  2026-03-29 (02:00 → 03:00) fires at 03:00 CEST = 01:00 UTC. Several
  vanished wall times collapse into that one firing.
* **Fall back (overlap).** A wall time that occurs twice fires once, at its
  first occurrence. ``0 30 2 * * *`` on 2026-10-25 (03:00 → 02:00) fires at
  02:30 CEST = 00:30 UTC, not again at 02:30 CET.
* **Exception: the hour field is ``*``.** Such a schedule is periodic within
  the day (``*/5 * * * * *``, ``0 15 * * * *``), so it follows elapsed time
  instead: it fires at every instant whose wall time matches. Through the
  repeated hour it keeps its cadence (both occurrences fire), and wall times
  inside a gap simply do not occur. This is the rule of Vixie cron.

Fixed offsets (``+05:30``) and UTC have no transitions; both rules agree there.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from spooled_scheduler.cron.expression import CronError, CronExpression

#: Time-zone transitions are assumed to be more than this far apart (true of
#: the IANA data in use); the transition search steps by it.
_TRANSITION_STEP = timedelta(days=1)
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})")


class TimezoneError(ValueError):
    """The time zone is unknown; the message says what is accepted."""


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_timezone(name: str) -> tzinfo:
    """An IANA zone (``Europe/Berlin``), ``UTC``/``GMT``, or a fixed offset ``±HH:MM``.

    Raises:
        TimezoneError: for anything else.
    """
    if name in ("UTC", "GMT", "Z"):
        return UTC
    m = _OFFSET_RE.fullmatch(name)
    if m:
        sign, hours, minutes = m.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta > timedelta(hours=14) or int(minutes) >= 60:
            raise TimezoneError(f"Invalid timezone offset '{name}': must be within ±14:00")
        return timezone(-delta if sign == "-" else delta)
    if name in _iana_names():
        return zoneinfo.ZoneInfo(name)
    raise TimezoneError(
        f"Unknown timezone '{name}': use an IANA name such as 'Europe/Berlin' or "
        "'America/New_York', 'UTC', or a fixed offset such as '+05:30'"
    )


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression bound to a time zone: answers "when is the next run?"."""

    expression: CronExpression
    tz: tzinfo
    timezone_name: str

    @classmethod
    def parse(cls, expression: str, timezone_name: str = "UTC") -> CronSchedule:
        """Raises CronError or TimezoneError with a client-facing message."""
        expr = CronExpression.parse(expression)
        tz = parse_timezone(timezone_name or "UTC")
        schedule = cls(expr, tz, timezone_name or "UTC")
        if schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise CronError("the expression never matches a date (e.g. February 30)")
        return schedule

    def next_after(self, after: datetime) -> datetime | None:
        """The first firing instant strictly after ``after`` (aware, UTC), or None."""
        after = after.astimezone(UTC)
        if self.tz is UTC or isinstance(self.tz, timezone):
            off = self.tz.utcoffset(None)
            wall = self.expression.next_wall((after + off).replace(tzinfo=None))
            return None if wall is None else (wall - off).replace(tzinfo=UTC)
        if self.expression.every_hour:
            return self._next_elapsed(after)
        return self._next_wall_rule(after)

    def ticks(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Firing instants in ``[start, end]``, oldest first, at most ``limit``."""
        out: list[datetime] = []
        t = self.next_after(start - timedelta(microseconds=1))
        while t is not None and t <= end and len(out) < limit:
            out.append(t)
            t = self.next_after(t)
        return out

    # -- the two DST rules ------------------------------------------------------
    def _next_wall_rule(self, after: datetime) -> datetime | None:
        """Fixed-time schedules: walk matching wall times, map each to one instant."""
        wall: datetime | None = after.astimezone(self.tz).replace(tzinfo=None)
        while True:
            wall = self.expression.next_wall(wall)  # type: ignore[arg-type]
            if wall is None:
                return None
            instant = self._resolve(wall)
            # Instants grow with wall time, so the first one past `after` is next.
            if instant > after:
                return instant

    def _resolve(self, wall: datetime) -> datetime:
        """The one instant a wall time fires at: gap → end of gap, overlap → first."""
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if first == second:
            return first
        if first.astimezone(self.tz).replace(tzinfo=None) == wall:
            return min(first, second)  # overlap: the earlier occurrence
        # Gap: fold=1 reads the wall with the later offset, landing before the
        # transition; fold=0 lands after it. The transition lies in between.
        lo, hi = min(first, second), max(first, second)
        found = self._first_change(lo, hi, self._offset(lo))
        return found if found is not None else hi

    def _next_elapsed(self, after: datetime) -> datetime | None:
        """Periodic schedules: the first instant whose wall time matches."""
        cursor, off = after, self._offset(after)
        while True:
            wall = self.expression.next_wall((cursor + off).replace(tzinfo=None))
            if wall is None:
                return None
            candidate = (wall - off).replace(tzinfo=UTC)
            change = self._first_change(cursor, candidate, off)
            if change is None:
                return candidate
            # The offset changes before the candidate: continue from the change,
            # which itself may match under the new offset.
            cursor, off = change - timedelta(seconds=1), self._offset(change)

    def _offset(self, instant: datetime) -> timedelta:
        off = instant.astimezone(self.tz).utcoffset()
        assert off is not None
        return off

    def _first_change(self, start: datetime, end: datetime, off: timedelta) -> datetime | None:
        """The first whole second in ``(start, end]`` whose offset differs from ``off``."""
        lo = start
        while lo < end:
            hi = min(lo + _TRANSITION_STEP, end)
            if self._offset(hi) != off:
                return self._bisect(lo, hi, off)
            lo = hi
        return None

    def _bisect(self, lo: datetime, hi: datetime, off: timedelta) -> datetime:
        # Invariant: the answer is in (lo, hi]; transitions fall on whole seconds.
        a, b = int(lo.timestamp()), int(hi.timestamp())
        if b < hi.timestamp():
            b += 1
        while b - a > 1:
            mid = (a + b) // 2
            if self._offset(datetime.fromtimestamp(mid, UTC)) != off:
                b = mid
            else:
                a = mid
        return datetime.fromtimestamp(b, UTC)


__all__ = ["CronError", "CronSchedule", "TimezoneError", "parse_timezone"]
