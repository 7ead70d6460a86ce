"""Retention: finished jobs older than the organization's plan allows are deleted.

Each plan carries ``job_retention_days`` (free 3, starter 14, pro 30,
enterprise 90; per-org ``custom_limits`` may change it). Without this sweep
``core.jobs`` would only grow: autovacuum keeps it free of dead rows and the
partial claim index keeps claims flat, but the table and its other indexes
(and every scan of an org's history) grow with every job ever run.

Every replica may run it: rows are taken with SKIP LOCKED, in batches, each
batch its own short transaction, so a sweep never holds many locks or long
transactions. What is kept is listed at ``delete_expired_jobs`` (db/queries.sql).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from spooled_common.db import maintenance_tx, tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.quota.admission import Admission

log = logging.getLogger(__name__)

#: Rows per DELETE statement (one transaction each).
BATCH = 1000
#: At most this many rows per organization per run, so one huge backlog does
#: not starve the others; the next run goes on.
MAX_PER_ORG_RUN = 100_000


class JobRetention:
    def __init__(self, pool: asyncpg.Pool, admission: Admission) -> None:
        self._pool = pool
        self._admission = admission

    async def run_once(self, now: datetime | None = None) -> int:
        """One sweep over every organization; returns the jobs deleted."""
        now = now or datetime.now(UTC)
        async with maintenance_tx(self._pool) as conn:
            orgs = [r["organization_id"] for r in await conn.fetch(Q.retention_orgs)]
        deleted = 0
        for org in orgs:
            try:
                deleted += await self._sweep_org(org, now)
            except Exception as exc:  # one org's trouble (billing down) must not stop the rest
                log.warning("job retention skipped org %s: %s", org, exc)
        if deleted:
            log.info("job retention: %d finished job(s) deleted", deleted)
        return deleted

    async def _sweep_org(self, org: str, now: datetime) -> int:
        limits = await self._admission.limits(Tenant(org))
        cutoff = now - timedelta(days=limits.job_retention_days)
        deleted = 0
        while deleted < MAX_PER_ORG_RUN:
            async with tenant_tx(self._pool, org) as conn:
                status = await conn.execute(Q.delete_expired_jobs, org, cutoff, BATCH)
            n = int(status.split()[-1])
            deleted += n
            if n < BATCH:
                break
        return deleted
