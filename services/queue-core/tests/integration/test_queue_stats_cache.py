"""The database-gauge collector: one query per cache period, and no stale values on errors."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from spooled_common.db import create_pool
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.queue_stats.collector import QueueStatsCollector
from spooled_queue_core.testing import enqueue


def _registry(collector: QueueStatsCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def _pending(registry: CollectorRegistry, queue: str) -> float | None:
    return registry.get_sample_value("spooled_jobs_pending", {"queue": queue})


def _refreshes(registry: CollectorRegistry, outcome: str) -> float | None:
    return registry.get_sample_value("spooled_queue_stats_refreshes_total", {"outcome": outcome})


async def test_a_scrape_storm_costs_one_query_per_cache_period(
    pool: asyncpg.Pool, services: Services, tenant: Tenant
) -> None:
    queue = f"storm-{uuid.uuid4().hex[:8]}"
    await enqueue(services, tenant, queue)
    collector = QueueStatsCollector()
    registry = _registry(collector)
    collector.bind(pool, limit=10_000, cache_secs=3600)

    await asyncio.gather(*(collector.refresh() for _ in range(50)))
    assert _refreshes(registry, "ok") == 1
    assert _pending(registry, queue) == 1

    # Within the cache period a new job is not seen: the reading is reused.
    await enqueue(services, tenant, queue)
    await collector.refresh()
    assert (_refreshes(registry, "ok"), _pending(registry, queue)) == (1, 1)

    # A new period reads again.
    collector.bind(pool, limit=10_000, cache_secs=0)
    await collector.refresh()
    assert _pending(registry, queue) == 2


async def test_a_failed_read_drops_the_gauges_and_is_counted(core_dsn: str) -> None:
    doomed = await create_pool(core_dsn, min_size=1, max_size=1)
    collector = QueueStatsCollector()
    registry = _registry(collector)
    collector.bind(doomed, cache_secs=0)
    await collector.refresh()
    assert registry.get_sample_value("spooled_workers_active") is not None

    await doomed.close()
    await collector.refresh()
    assert _refreshes(registry, "error") == 1
    text = generate_latest(registry).decode()
    assert "spooled_workers_active" not in text and "spooled_jobs_pending" not in text
    # The rest of the scrape still renders.
    assert "spooled_queue_stats_refreshes_total" in text


async def test_an_unbound_collector_exports_nothing() -> None:
    collector = QueueStatsCollector()
    await collector.refresh()
    assert generate_latest(_registry(collector)) == b""
