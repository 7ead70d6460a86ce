"""Queues: configuration (defaults for new jobs), pause/resume, stats, deletion.

Queues are implicit: the first job creates one. A ``queue_config`` row exists
only once a queue is configured or paused; claims skip paused queues.
"""

from __future__ import annotations

import asyncpg
import orjson
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import paging, scope
from spooled_queue_core.queues import repository as repo
from spooled_queue_core.queues.models import Paused, QueueUpdate, Resumed
from spooled_queue_core.quota.admission import Admission, check_new_queues
from spooled_queue_core.quota.limits import Unmetered
from spooled_queue_core.settings import QueueCoreSettings

MAX_LIST = 100


class QueueService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: QueueCoreSettings,
        channel: str,
        *,
        admission: Admission | None = None,
    ) -> None:
        self._pool = pool
        self._defaults = (settings.default_max_retries, settings.default_timeout_secs)
        self._channel = channel
        self._admission = admission or Admission(Unmetered())

    async def list_configs(self, tenant: Tenant, limit: int = 0) -> list[asyncpg.Record]:
        limit = paging.clamp(limit, 1, MAX_LIST, default=MAX_LIST)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.list_configs(conn, tenant.org_id, scope.queues(tenant), limit)

    async def get(self, tenant: Tenant, queue: str) -> asyncpg.Record:
        scope.require(tenant, queue)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.get(conn, tenant.org_id, queue)
        if row is None:
            raise errors.NotFound("Queue not found")
        return row

    async def update_config(self, tenant: Tenant, queue: str, upd: QueueUpdate) -> asyncpg.Record:
        """Upsert: omitted fields keep their values, settings are merged."""
        _require_name(queue)
        scope.require(tenant, queue)
        if upd.settings is not None:
            _require_object(upd.settings)
        limits = await self._admission.limits(tenant)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            # Configuring a queue the org never used creates it: plan's max_queues.
            await check_new_queues(conn, tenant.org_id, {queue}, limits)
            return await repo.upsert(conn, tenant.org_id, queue, upd, self._defaults, self._channel)

    async def stats(self, tenant: Tenant, queue: str) -> asyncpg.Record:
        scope.require(tenant, queue)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.stats(conn, tenant.org_id, queue)

    async def pause(self, tenant: Tenant, queue: str, reason: str | None = None) -> Paused:
        _require_name(queue)
        scope.require(tenant, queue)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            # A queue exists once it has a config row or jobs (upstream: 404
            # otherwise), so a typo cannot silently create a paused queue.
            found = await repo.presence(conn, tenant.org_id, queue)
            if not found["has_config"] and not found["total"]:
                raise errors.NotFound("Queue not found")
            row = await repo.pause(conn, tenant.org_id, queue, reason, self._defaults)
        return Paused(row["queue_name"], row["paused_at"], reason)

    async def resume(self, tenant: Tenant, queue: str) -> Resumed:
        scope.require(tenant, queue)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.resume(conn, tenant.org_id, queue, self._channel)
        if row is None:
            raise errors.NotFound("Queue not found")
        return Resumed(row["queue_name"], row["paused_duration_secs"])

    async def delete(self, tenant: Tenant, queue: str, *, delete_jobs: bool = False) -> None:
        """Delete the queue's config; refused while it has active jobs unless ``delete_jobs``."""
        scope.require(tenant, queue)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            found = await repo.presence(conn, tenant.org_id, queue)
            if not found["has_config"] and not found["total"]:
                raise errors.NotFound("Queue not found")
            if found["active"] and not delete_jobs:
                raise errors.Conflict(
                    f"Queue has {found['active']} active job(s); pass delete_jobs=true "
                    "to delete them with the queue"
                )
            if not found["has_config"] and not delete_jobs:
                raise errors.Conflict(
                    "Queue has no configuration, only finished jobs; "
                    "pass delete_jobs=true to delete them"
                )
            await repo.delete(conn, tenant.org_id, queue, with_jobs=delete_jobs)


def _require_name(queue: str) -> None:
    if not 0 < len(queue) <= 255:
        raise errors.ValidationError("queue_name must be 1-255 characters")


def _require_object(settings: str) -> None:
    try:
        doc = orjson.loads(settings)
    except orjson.JSONDecodeError as exc:
        raise errors.ValidationError("settings must be valid JSON") from exc
    if not isinstance(doc, dict):
        raise errors.ValidationError("settings must be a JSON object")
