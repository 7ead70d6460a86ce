"""Organization-wide counters for the usage endpoint and plan checks."""

from __future__ import annotations

import asyncpg
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core.db import QUERIES as Q


class UsageService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def usage(self, tenant: Tenant) -> asyncpg.Record:
        """jobs_today (UTC), active_jobs, queues, workers (healthy + degraded), totals.

        Not limited to the key's queue scope: plan limits count the whole org.
        """
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await conn.fetchrow(Q.usage, tenant.org_id)
