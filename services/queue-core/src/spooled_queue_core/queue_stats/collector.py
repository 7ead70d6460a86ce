"""A Prometheus collector for the gauges that only the database knows.

Pending, processing and dead-lettered jobs per queue, the oldest runnable
job's age, and the worker fleet (API.md §16 names) come from one aggregate
query (``queries.sql``). prometheus_client collects synchronously, so the
``/metrics`` handler awaits :meth:`QueueStatsCollector.refresh` first; the
result is cached for ``cache_secs``, and concurrent scrapes share one query,
so a scrape storm (many Prometheis, a dashboard refresh loop) costs Postgres
one query per cache period and replica.

Every replica reads the same database, so every replica reports the same
values: aggregate with ``max``, never ``sum``, across instances.

When the query fails (database down, timeout), the gauges are left out of
the scrape rather than repeated stale; the rest of ``/metrics`` is served
as usual, and ``spooled_queue_stats_refreshes_total{outcome="error"}``
counts the failures. A failed refresh is cached too, so an outage is not
hammered by every scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from spooled_common.db import maintenance_tx

from spooled_queue_core.queue_labels import DEFAULT_LIMIT
from spooled_queue_core.queue_stats import QUERIES as Q
from spooled_queue_core.queue_stats.snapshot import Snapshot, from_rows

log = logging.getLogger(__name__)

DEFAULT_CACHE_SECS = 10.0
#: A scrape waits at most this long for the database (Prometheus' default
#: scrape timeout is 10 s); the statement itself is cancelled server-side.
QUERY_TIMEOUT_SECS = 5.0


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str
    doc: str
    labels: tuple[str, ...] = ()


class QueueStatsCollector(Collector):
    #: What this collector exports (also read by tests/deploy/metric_catalog.py).
    FAMILIES = (
        Family("spooled_jobs_pending", "gauge", "Jobs waiting to be claimed", ("queue",)),
        Family("spooled_jobs_processing", "gauge", "Jobs leased to a worker", ("queue",)),
        Family("spooled_jobs_deadletter", "gauge", "Jobs in the dead-letter queue", ("queue",)),
        Family(
            "spooled_job_max_age_seconds",
            "gauge",
            "How long the oldest runnable job has waited for a worker (0: none waits)",
            ("queue",),
        ),
        Family("spooled_workers_active", "gauge", "Registered workers not offline"),
        Family("spooled_workers_healthy", "gauge", "Healthy workers that heartbeated recently"),
        Family(
            "spooled_queue_stats_refresh_seconds",
            "gauge",
            "Duration of the last database read behind the per-queue gauges",
        ),
        Family(
            "spooled_queue_stats_refreshes",
            "counter",
            "Database reads behind the per-queue gauges, by outcome (ok, error)",
            ("outcome",),
        ),
    )

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._limit = DEFAULT_LIMIT
        self._cache_secs = DEFAULT_CACHE_SECS
        self._healthy_secs = 30.0
        self._lock: asyncio.Lock | None = None
        self._snapshot: Snapshot | None = None
        self._fetched_at = float("-inf")
        self._last_secs = 0.0
        self._outcomes = {"ok": 0, "error": 0}

    def bind(
        self,
        pool: asyncpg.Pool,
        *,
        limit: int = DEFAULT_LIMIT,
        cache_secs: float = DEFAULT_CACHE_SECS,
        healthy_secs: float = 30.0,
    ) -> None:
        """Start reading from ``pool`` (the service's own, not a tenant-capped view)."""
        self._pool = pool
        self._limit = limit
        self._cache_secs = cache_secs
        self._healthy_secs = healthy_secs
        self._lock = asyncio.Lock()
        self._snapshot = None
        self._fetched_at = float("-inf")

    def unbind(self, pool: asyncpg.Pool) -> None:
        if self._pool is pool:
            self._pool, self._lock, self._snapshot = None, None, None

    async def refresh(self) -> None:
        """Re-read the database unless the last reading is recent enough."""
        if self._pool is None or self._lock is None or not self._stale():
            return
        async with self._lock:
            if not self._stale():  # another scrape refreshed while we waited
                return
            started = time.monotonic()
            try:
                self._snapshot = await self._read(self._pool)
                self._outcomes["ok"] += 1
            except Exception as exc:
                self._snapshot = None
                self._outcomes["error"] += 1
                log.warning("queue stats for /metrics unavailable: %r", exc)
            finally:
                self._fetched_at = time.monotonic()
                self._last_secs = self._fetched_at - started

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at >= self._cache_secs

    async def _read(self, pool: asyncpg.Pool) -> Snapshot:
        async with asyncio.timeout(QUERY_TIMEOUT_SECS), maintenance_tx(pool) as conn:
            await conn.execute(
                "SELECT set_config('statement_timeout', $1, true)",
                f"{int(QUERY_TIMEOUT_SECS * 1000)}ms",
            )
            rows = await conn.fetch(Q.queue_stats, self._healthy_secs)
        return from_rows(rows, self._limit)

    # -- prometheus_client ----------------------------------------------------
    def describe(self) -> Iterator[Metric]:
        for f in self.FAMILIES:
            yield _family(f)

    def collect(self) -> Iterator[Metric]:
        if self._pool is None:
            return
        fam = {f.name: _family(f) for f in self.FAMILIES}
        snap = self._snapshot
        if snap is not None:
            for q in snap.queues:
                fam["spooled_jobs_pending"].add_metric([q.queue], q.pending)
                fam["spooled_jobs_processing"].add_metric([q.queue], q.processing)
                fam["spooled_jobs_deadletter"].add_metric([q.queue], q.deadletter)
                fam["spooled_job_max_age_seconds"].add_metric([q.queue], q.max_age_secs)
            fam["spooled_workers_active"].add_metric([], snap.workers_active)
            fam["spooled_workers_healthy"].add_metric([], snap.workers_healthy)
        fam["spooled_queue_stats_refresh_seconds"].add_metric([], self._last_secs)
        for outcome, n in self._outcomes.items():
            fam["spooled_queue_stats_refreshes"].add_metric([outcome], n)
        # A family without samples (no snapshot) is left out of the scrape.
        yield from (f for f in fam.values() if f.samples)


def _family(f: Family) -> GaugeMetricFamily | CounterMetricFamily:
    if f.kind == "counter":
        return CounterMetricFamily(f.name, f.doc, labels=f.labels)
    return GaugeMetricFamily(f.name, f.doc, labels=f.labels)
