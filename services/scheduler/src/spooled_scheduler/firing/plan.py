"""Which ticks of a due schedule to fire now: the missed-run policy, as a pure function.

A schedule's ``next_run_at`` is its oldest tick not yet fired. When a pass
finds it due, the ticks in ``[next_run_at, now]`` split in two:

* **late** ticks, no older than the misfire grace (default 60 s), always fire,
  each one. A leader handover or a slow pass delays ticks by seconds; that is
  not downtime, and no policy may drop them.
* **missed** ticks, older than the grace, come from real downtime (no scheduler
  ran, or the schedule's queue-core calls kept failing). ``missed_run_policy``
  decides: ``skip`` fires only the latest missed tick, and only when no late
  tick fires anyway (upstream: "run once"); ``catch_up`` fires each missed
  tick, the most recent ``catch_up_limit`` of them. Dropped ticks are recorded
  as one ``missed`` history row.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from spooled_scheduler.cron import CronSchedule
from spooled_scheduler.schedules.models import CATCH_UP

#: At most this many late ticks fire per schedule per pass; the rest stay due.
MAX_TICKS_PER_PASS = 1000
_FIRST_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class FirePlan:
    #: Ticks to fire now, oldest first.
    ticks: list[datetime]
    #: ``(first, before)``: missed ticks in ``[first, before)`` are dropped.
    dropped: tuple[datetime, datetime] | None
    #: Where ``next_run_at`` goes once every tick of the plan is handled.
    next_run_at: datetime | None


def plan(
    cron: CronSchedule,
    next_run_at: datetime,
    now: datetime,
    *,
    policy: str,
    catch_up_limit: int,
    grace: timedelta,
) -> FirePlan:
    horizon = now - grace
    late = cron.ticks(max(next_run_at, horizon), now, MAX_TICKS_PER_PASS)
    missed: list[datetime] = []
    if next_run_at < horizon:
        want = catch_up_limit if policy == CATCH_UP else (0 if late else 1)
        missed = latest_ticks(cron, next_run_at, horizon, want)
    ticks = missed + late
    dropped = None
    if next_run_at < horizon and (not ticks or next_run_at < ticks[0]):
        dropped = (next_run_at, ticks[0] if ticks else horizon)
    if len(late) == MAX_TICKS_PER_PASS:
        return FirePlan(ticks, dropped, cron.next_after(late[-1]))
    return FirePlan(ticks, dropped, cron.next_after(now))


def latest_ticks(
    cron: CronSchedule, start: datetime, before: datetime, count: int
) -> list[datetime]:
    """The last ``count`` ticks in ``[start, before)``, oldest first.

    Ticks depend only on the expression, so the search looks back from
    ``before`` in growing windows instead of walking from a start that may be
    days of per-second ticks away.
    """
    if count <= 0:
        return []
    width = _FIRST_WINDOW
    while True:
        lo = max(start, before - width)
        found: deque[datetime] = deque(maxlen=count)
        tick = cron.next_after(lo - timedelta(microseconds=1))
        while tick is not None and tick < before:
            found.append(tick)
            tick = cron.next_after(tick)
        if len(found) >= count or lo == start:
            return list(found)
        width *= 4
