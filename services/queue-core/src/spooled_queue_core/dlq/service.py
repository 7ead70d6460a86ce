"""Dead-letter queue: bulk retry and purge (API.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import paging, scope
from spooled_queue_core.dlq import repository as repo
from spooled_queue_core.quota import QUERIES as QUOTA_Q
from spooled_queue_core.quota.admission import Admission
from spooled_queue_core.quota.limits import Unmetered

MAX_RETRY_BATCH = 100
MAX_PURGE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Retried:
    retried: list[str]
    #: Requested ids that were not retried (not dead-lettered, unknown, or busy).
    skipped: list[str]


class DeadLetterService:
    def __init__(
        self, pool: asyncpg.Pool, channel: str, *, admission: Admission | None = None
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._admission = admission or Admission(Unmetered())

    async def retry(
        self,
        tenant: Tenant,
        *,
        job_ids: list[str] | None = None,
        queue: str | None = None,
        limit: int = 0,
    ) -> Retried:
        """Send dead-lettered jobs back to pending, oldest first.

        Selection precedence: ``job_ids``, else ``queue``, else every queue in scope.
        """
        job_ids = list(dict.fromkeys(job_ids or ()))
        if job_ids:
            queue = None
        elif queue is not None:
            scope.require(tenant, queue)
        limit = paging.clamp(
            limit, 1, max(MAX_RETRY_BATCH, len(job_ids)), default=max(MAX_RETRY_BATCH, len(job_ids))
        )
        # Retried jobs re-enter the active set: they are admitted like new ones,
        # reserving as many as the selection holds now and refunding the rest.
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            found = int(
                await conn.fetchval(
                    QUOTA_Q.count_dead_letters,
                    tenant.org_id,
                    job_ids,
                    queue,
                    limit,
                    scope.queues(tenant),
                )
            )
        retried: list[str] = []
        if found:
            async with (
                self._admission.jobs(tenant, found) as ticket,
                tenant_tx(self._pool, tenant.org_id) as conn,
            ):
                await ticket.check(conn, adding=found)
                retried = await repo.retry(
                    conn,
                    tenant.org_id,
                    job_ids,
                    queue,
                    found,
                    scope.queues(tenant),
                    self._channel,
                )
                ticket.admit(len(retried))
        done = set(retried)
        return Retried(retried, [j for j in job_ids if j not in done])

    async def purge(
        self,
        tenant: Tenant,
        *,
        queue: str | None = None,
        older_than: datetime | None = None,
        limit: int = 0,
    ) -> int:
        """Delete dead-lettered jobs (and their DLQ records); returns how many."""
        if queue is not None:
            scope.require(tenant, queue)
        limit = paging.clamp(limit, 1, MAX_PURGE_BATCH, default=MAX_PURGE_BATCH)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.purge(
                conn, tenant.org_id, queue, older_than, limit, scope.queues(tenant)
            )
