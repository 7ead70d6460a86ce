"""One firing pass: enqueue the due ticks of every due schedule, exactly once.

Per schedule, one transaction:

1. re-check leadership and hold the lease row ``FOR SHARE`` (the fence);
2. lock the schedule ``FOR UPDATE SKIP LOCKED`` if it is still due;
3. plan the ticks (:mod:`.plan`: misfire grace, missed-run policy);
4. per tick: the overlap check (queue-core ``GetJob``), then ``CreateJob``
   with the idempotency key ``sched:<id>:<tick>``, then a ``schedule_runs`` row;
5. move ``next_run_at`` past what was handled, bump ``run_count``; commit.

If the transaction dies after an enqueue, the tick is still due and the next
pass enqueues it again with the same key: queue-core returns the job it
already has. So each tick yields one job whichever replica fires it, however
often. When queue-core is unavailable the tick stays due and is retried.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from opentelemetry import trace
from spooled_common import errors, tracing
from spooled_common.db import maintenance_tx

from spooled_scheduler import metrics
from spooled_scheduler.clock import Clock
from spooled_scheduler.cron import CronError, CronSchedule, TimezoneError
from spooled_scheduler.db import QUERIES as Q
from spooled_scheduler.firing.leader import LeaderLease
from spooled_scheduler.firing.plan import plan
from spooled_scheduler.queue_core import (
    ACTIVE_JOB_STATUSES,
    JobRequest,
    QueueCorePort,
    tick_key,
)
from spooled_scheduler.schedules import repository as repo
from spooled_scheduler.schedules.models import SKIP

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100


class NotLeader(Exception):
    """The lease was lost (or taken over) during the pass; stop firing."""


class _Deferred(Exception):
    """queue-core could not take the tick now; leave it due and retry next pass."""


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def _cron(expression: str, timezone: str) -> CronSchedule:
    """Parsed once per (expression, zone) per process; passes re-read rows often."""
    return CronSchedule.parse(expression, timezone)


def _retryable(exc: errors.AppError) -> bool:
    return exc.status >= 500 or isinstance(exc, errors.RateLimited)


class Firer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        core: QueueCorePort,
        lease: LeaderLease,
        *,
        grace: timedelta,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._core = core
        self._lease = lease
        self._grace = grace
        self._batch_size = batch_size
        #: The last pass found a full batch: more schedules may be due right now.
        self.batch_was_full = False
        #: The last pass left due ticks behind (deferred, locked, failed): retry
        #: them after a poll interval rather than at once.
        self.left_due = False

    async def run_once(self) -> int:
        """Fire what is due now (up to one batch of schedules); returns jobs enqueued."""
        async with maintenance_tx(self._pool) as conn:
            due = await conn.fetch(Q.due_schedules, self._clock.now(), self._batch_size)
        self.batch_was_full = len(due) == self._batch_size
        self.left_due = False
        fired = 0
        for row in due:
            try:
                fired += await self._fire_schedule(row["id"])
            except NotLeader:
                log.warning("%s: no longer the leader; pass stopped", self._lease.holder)
                self.left_due = True
                break
            except Exception:
                log.exception("firing schedule %s failed; it stays due", row["id"])
                self.left_due = True
        return fired

    async def earliest_due(self) -> datetime | None:
        async with maintenance_tx(self._pool) as conn:
            return await conn.fetchval(Q.earliest_due)  # type: ignore[no-any-return]

    async def _fire_schedule(self, schedule_id: str) -> int:
        now = self._clock.now()
        async with maintenance_tx(self._pool) as conn:
            if not await conn.fetchval(
                Q.hold_leadership, self._lease.role, self._lease.holder, now
            ):
                raise NotLeader
            row = await conn.fetchrow(Q.lock_due_schedule, schedule_id, now)
            if row is None:  # fired meanwhile, paused, or being edited right now
                self.left_due = True
                return 0
            return await self._fire_locked(conn, row, now)

    async def _fire_locked(
        self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime
    ) -> int:
        try:
            cron = _cron(row["cron_expression"], row["timezone"])
        except (CronError, TimezoneError) as exc:
            # Valid when stored; a zone can still disappear from the tz database.
            await self._record(
                conn, row, None, now, "failed", kind="missed", error=f"Cannot compute runs: {exc}"
            )
            await conn.execute(Q.advance_schedule, row["id"], row["organization_id"], None, None, 0)
            return 0
        p = plan(
            cron,
            row["next_run_at"],
            now,
            policy=row["missed_run_policy"],
            catch_up_limit=row["catch_up_limit"],
            grace=self._grace,
        )
        if p.dropped is not None:
            first, before = p.dropped
            await self._record(
                conn,
                row,
                None,
                now,
                "skipped",
                kind="missed",
                error=f"Missed runs from {_iso(first)} until before {_iso(before)} were "
                f"skipped (missed_run_policy={row['missed_run_policy']})",
            )
            metrics.TICKS.labels("dropped").inc()
        fired, next_run_at = 0, p.next_run_at
        previous_job: Any = _UNREAD
        for tick in p.ticks:
            try:
                job_id, previous_job = await self._fire_tick(conn, row, tick, now, previous_job)
            except _Deferred:
                next_run_at = tick
                self.left_due = True
                break
            fired += job_id is not None
        await conn.execute(
            Q.advance_schedule,
            row["id"],
            row["organization_id"],
            next_run_at,
            now if fired else None,
            fired,
        )
        return fired

    async def _fire_tick(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        tick: datetime,
        now: datetime,
        previous_job: Any,
    ) -> tuple[str | None, Any]:
        """Handle one tick; returns (job id if a job was newly recorded, previous job)."""
        org = row["organization_id"]
        try:
            if row["overlap_policy"] == SKIP:
                if previous_job is _UNREAD:
                    previous_job = await repo.last_run_job(conn, org, row["id"])
                status = await self._core.job_status(org, previous_job) if previous_job else None
                if status in ACTIVE_JOB_STATUSES:
                    await self._record(
                        conn,
                        row,
                        tick,
                        now,
                        "skipped",
                        error=f"Skipped: the previous run's job {previous_job} is still "
                        f"{status} (overlap_policy=skip)",
                    )
                    return None, previous_job
            job_id = await self._enqueue(row, tick)
        except errors.AppError as exc:
            if _retryable(exc):
                metrics.TICKS.labels("deferred").inc()
                log.warning("schedule %s tick %s deferred: %s", row["id"], _iso(tick), exc.message)
                raise _Deferred from exc
            await self._record(conn, row, tick, now, "failed", error=exc.message)
            return None, previous_job
        recorded = await self._record(conn, row, tick, now, "completed", job_id=job_id)
        return (job_id if recorded else None), job_id

    async def _enqueue(self, row: asyncpg.Record, tick: datetime) -> str:
        """CreateJob for one tick, in a trace of its own that the job then carries.

        A cron job has no caller whose trace it could join: this span is the
        root its claim, completion and webhooks continue (docs/observability.md).
        """
        attributes = {
            tracing.attrs.ORG_ID: row["organization_id"],
            tracing.attrs.QUEUE: row["queue_name"],
            tracing.attrs.SCHEDULE_ID: str(row["id"]),
            tracing.attrs.SCHEDULE_TICK: _iso(tick),
        }
        with tracing.tracer().start_as_current_span(
            "schedule.fire", kind=trace.SpanKind.INTERNAL, attributes=attributes
        ) as span:
            job_id = await self._core.create_job(
                row["organization_id"], JobRequest.from_schedule(row, tick_key(row["id"], tick))
            )
            span.set_attribute(tracing.attrs.JOB_ID, job_id)
            return job_id

    @staticmethod
    async def _record(
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        tick: datetime | None,
        now: datetime,
        status: str,
        *,
        kind: str = "cron",
        job_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        run_id = await repo.insert_run(
            conn,
            repo.Run(
                row["organization_id"],
                row["id"],
                status,
                kind,
                now,
                scheduled_for=tick,
                job_id=job_id,
                error_message=error,
            ),
        )
        if kind == "cron":
            metrics.TICKS.labels({"completed": "fired"}.get(status, status)).inc()
        return run_id is not None


_UNREAD = object()
