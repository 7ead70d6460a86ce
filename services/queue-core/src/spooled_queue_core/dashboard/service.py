"""The dashboard summary: job counts, latency, busiest queues, workers, throughput.

One read-only transaction, limited to the caller's queue scope. Timings:
"wait" is ready → claimed, "processing" is claimed → completed, both over the
last hour so the numbers move with the live view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from spooled_common import sql
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import paging, scope
from spooled_queue_core.settings import QueueCoreSettings

Q = sql.Queries.load(__name__.rpartition(".")[0])

DEFAULT_QUEUES, MAX_QUEUES = 20, 100
DEFAULT_MINUTES, MAX_MINUTES = 60, 1440
#: A healthy worker counts as such when heard from within this many heartbeat intervals.
HEALTHY_HEARTBEATS = 3


@dataclass(frozen=True, slots=True)
class Summary:
    jobs: dict[str, Any]
    queues: list[dict[str, Any]]
    workers: dict[str, int]
    throughput: list[dict[str, Any]]


class DashboardService:
    def __init__(self, pool: asyncpg.Pool, settings: QueueCoreSettings) -> None:
        self._pool = pool
        self._healthy_secs = settings.heartbeat_interval_secs * HEALTHY_HEARTBEATS

    async def summary(self, tenant: Tenant, *, queue_limit: int = 0, minutes: int = 0) -> Summary:
        queue_limit = paging.clamp(queue_limit, 1, MAX_QUEUES, default=DEFAULT_QUEUES)
        minutes = paging.clamp(minutes, 1, MAX_MINUTES, default=DEFAULT_MINUTES)
        org, allowed = tenant.org_id, scope.queues(tenant)
        async with tenant_tx(self._pool, org) as conn:
            jobs = await conn.fetchrow(Q.dashboard_jobs, org, allowed)
            queues = await conn.fetch(Q.dashboard_queues, org, allowed, queue_limit)
            workers = await conn.fetchrow(Q.dashboard_workers, org, allowed, self._healthy_secs)
            points = await conn.fetch(Q.dashboard_throughput, org, allowed, minutes)
        total, healthy = workers["workers_total"], workers["workers_healthy"]
        return Summary(
            jobs=dict(jobs),
            queues=[dict(r) for r in queues],
            workers={
                "workers_total": total,
                "workers_healthy": healthy,
                "workers_unhealthy": total - healthy,
            },
            throughput=[dict(r) for r in points],
        )
