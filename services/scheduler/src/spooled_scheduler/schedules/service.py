"""Schedule service: CRUD, pause/resume, manual trigger and run history.

The service owns the transaction (``tenant_tx``: RLS on, one org); the
repository only runs SQL. A key restricted to some queues sees only the
schedules of those queues (others are 404) and may create only there (403).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_scheduler.clock import Clock
from spooled_scheduler.queue_core import JobRequest, QueueCorePort, manual_key
from spooled_scheduler.schedules import repository as repo
from spooled_scheduler.schedules.models import TIMING_FIELDS, ScheduleFields

NOT_FOUND = "Schedule not found"
#: Upstream: lists default to 100 (max 500), history to 50 (max 500).
MAX_LIST_LIMIT = 500


def quota_exceeded(current: int, limit: int) -> errors.QuotaExceeded:
    """The plan-cap error; the gateway adds ``plan`` and ``upgrade_to``."""
    return errors.QuotaExceeded(
        f"schedules limit reached ({current}/{limit}).",
        extra={
            "error": "limit_exceeded",
            "resource": "schedules",
            "current": current,
            "limit": limit,
        },
    )


def _scope(tenant: Tenant) -> list[str] | None:
    return None if tenant.queues is None else sorted(tenant.queues)


class ScheduleService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        core: QueueCorePort,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._core = core
        #: Called after a write that may move the earliest due time (wakes the loop).
        self._on_change = on_change or (lambda: None)

    # -- writes ------------------------------------------------------------------
    async def create(
        self, tenant: Tenant, fields: ScheduleFields, max_active: int | None = None
    ) -> asyncpg.Record:
        """Validate and store a schedule; nothing is stored when anything is invalid."""
        cron = fields.validated()
        if not tenant.allows(fields.queue_name):
            raise errors.AccessDenied(
                f"API key does not have permission for queue '{fields.queue_name}'"
            )
        now = self._clock.now()
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            await self._check_cap(conn, tenant.org_id, max_active)
            row = await repo.insert(conn, tenant.org_id, fields, cron.next_after(now), now)
        self._on_change()
        return row

    async def update(
        self,
        tenant: Tenant,
        schedule_id: str,
        changes: Mapping[str, Any],
        max_active: int | None = None,
    ) -> asyncpg.Record:
        """Apply ``changes`` (absent = keep). A new cron/timezone, or reactivation,
        recomputes ``next_run_at`` from now: ticks missed while paused are not fired."""
        now = self._clock.now()
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.get(conn, tenant.org_id, schedule_id, _scope(tenant), for_update=True)
            if row is None:
                raise errors.NotFound(NOT_FOUND)
            fields = ScheduleFields.from_row(row).merged(changes)
            cron = fields.validated()
            activating = fields.is_active and not row["is_active"]
            next_run_at = row["next_run_at"]
            if activating or TIMING_FIELDS & {k for k in changes if changes[k] != row[k]}:
                next_run_at = cron.next_after(now)
            if activating:
                await self._check_cap(conn, tenant.org_id, max_active)
            updated = await repo.update(conn, tenant.org_id, schedule_id, fields, next_run_at, now)
        self._on_change()
        return updated

    async def pause(self, tenant: Tenant, schedule_id: str) -> asyncpg.Record:
        return await self.update(tenant, schedule_id, {"is_active": False})

    async def resume(
        self, tenant: Tenant, schedule_id: str, max_active: int | None = None
    ) -> asyncpg.Record:
        return await self.update(tenant, schedule_id, {"is_active": True}, max_active)

    async def delete(self, tenant: Tenant, schedule_id: str) -> None:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            if not await repo.delete(conn, tenant.org_id, schedule_id, _scope(tenant)):
                raise errors.NotFound(NOT_FOUND)

    async def trigger(self, tenant: Tenant, schedule_id: str) -> tuple[str, datetime]:
        """Enqueue one job from the template now; returns (job id, triggered at).

        Counts as a run (``run_count``, ``last_run_at``, a ``manual`` history row)
        but leaves the cron cadence alone.
        """
        row = await self.get(tenant, schedule_id)
        run_id = str(uuid.uuid4())
        job_id = await self._core.create_job(
            tenant.org_id, JobRequest.from_schedule(row, manual_key(schedule_id, run_id))
        )
        now = self._clock.now()
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            # Deleted meanwhile: the job stands, there is just no row to count it on.
            if await repo.record_manual_run(conn, tenant.org_id, schedule_id, now) is not None:
                await repo.insert_run(
                    conn,
                    repo.Run(
                        tenant.org_id,
                        schedule_id,
                        "completed",
                        "manual",
                        now,
                        scheduled_for=now,
                        job_id=job_id,
                        id=run_id,
                    ),
                )
        return job_id, now

    # -- reads -------------------------------------------------------------------
    async def get(self, tenant: Tenant, schedule_id: str) -> asyncpg.Record:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.get(conn, tenant.org_id, schedule_id, _scope(tenant))
        if row is None:
            raise errors.NotFound(NOT_FOUND)
        return row

    async def list_page(
        self,
        tenant: Tenant,
        *,
        queue_name: str | None = None,
        is_active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[asyncpg.Record]:
        limit = min(max(limit, 1), MAX_LIST_LIMIT)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.list_page(
                conn, tenant.org_id, _scope(tenant), queue_name, is_active, limit, max(offset, 0)
            )

    async def history(
        self, tenant: Tenant, schedule_id: str, limit: int = 50
    ) -> list[asyncpg.Record]:
        limit = min(max(limit, 1), MAX_LIST_LIMIT)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            if await repo.get(conn, tenant.org_id, schedule_id, _scope(tenant)) is None:
                raise errors.NotFound(NOT_FOUND)
            return await repo.list_runs(conn, tenant.org_id, schedule_id, limit)

    # -- internals ---------------------------------------------------------------
    @staticmethod
    async def _check_cap(conn: asyncpg.Connection, org_id: str, limit: int | None) -> None:
        if limit is None:
            return
        current = await repo.count_active(conn, org_id)
        if current + 1 > limit:
            raise quota_exceeded(current, limit)
