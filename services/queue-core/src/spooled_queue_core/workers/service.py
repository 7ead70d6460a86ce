"""Workers: registration (stable ids), heartbeats with drain signal, deregistration."""

from __future__ import annotations

import uuid

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import paging, scope
from spooled_queue_core.quota.admission import Admission, check_workers
from spooled_queue_core.quota.limits import Unmetered
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.workers import repository as repo
from spooled_queue_core.workers.models import STATUSES, NewWorker

DEFAULT_CONCURRENCY = 5
MAX_CONCURRENCY = 100
MAX_LIST = 100


class WorkerService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: QueueCoreSettings,
        channel: str,
        *,
        admission: Admission | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._channel = channel
        self._admission = admission or Admission(Unmetered())

    @property
    def lease_duration_secs(self) -> int:
        """The lease a claim gets by default; told to workers at registration."""
        return self._settings.lease_duration_secs

    @property
    def heartbeat_interval_secs(self) -> int:
        return self._settings.heartbeat_interval_secs

    async def register(self, tenant: Tenant, w: NewWorker) -> asyncpg.Record:
        """Register (or re-register) a worker; another org's id is refused."""
        if not w.queue_name or not w.hostname:
            raise errors.ValidationError("queue_name and hostname are required")
        scope.require(tenant, w.queue_name)
        worker_id = w.worker_id or str(uuid.uuid4())
        concurrency = paging.clamp(
            w.max_concurrency, 1, MAX_CONCURRENCY, default=DEFAULT_CONCURRENCY
        )
        # A second attempt covers two registrations of a new id racing each
        # other: the loser's INSERT conflicts, its retry UPDATEs the winner's row.
        limits = await self._admission.limits(tenant)
        for _ in range(2):
            async with tenant_tx(self._pool, tenant.org_id) as conn:
                # Plan's max_workers (healthy + degraded), under the per-org lock.
                await check_workers(conn, tenant.org_id, worker_id, limits)
                row = await repo.register(conn, tenant.org_id, worker_id, w, concurrency)
            if row is not None:
                return row
        raise errors.AlreadyExists("Worker ID already in use")

    async def list_workers(self, tenant: Tenant, limit: int = 0) -> list[asyncpg.Record]:
        limit = paging.clamp(limit, 1, MAX_LIST, default=MAX_LIST)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.list_workers(conn, tenant.org_id, scope.queues(tenant), limit)

    async def get(self, tenant: Tenant, worker_id: str) -> asyncpg.Record:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.get(conn, tenant.org_id, worker_id, scope.queues(tenant))
        if row is None:
            raise errors.NotFound("Worker not found")
        return row

    async def heartbeat(
        self,
        tenant: Tenant,
        worker_id: str,
        *,
        current_jobs: int = 0,
        status: str = "",
        metadata: str | None = None,
    ) -> bool:
        """Record a heartbeat; True when the worker should drain and stop."""
        status = status if status in STATUSES else "healthy"
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            now = await repo.heartbeat(
                conn,
                tenant.org_id,
                worker_id,
                max(current_jobs, 0),
                status,
                metadata,
                scope.queues(tenant),
            )
        if now is None:
            raise errors.NotFound("Worker not found")
        return now in ("offline", "draining")

    async def deregister(self, tenant: Tenant, worker_id: str) -> int:
        """Mark the worker offline and requeue its jobs (no retry charged); returns how many."""
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.deregister(
                conn, tenant.org_id, worker_id, scope.queues(tenant), self._channel
            )
        if row is None:
            raise errors.NotFound("Worker not found")
        return int(row["released"])
