"""The scheduler process as deployed: its own loop, probes and graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import httpx
import pytest
from sched_helpers import T0, fields, runs_of, scheduler_settings
from spooled_common.db import maintenance_tx
from spooled_common.tenant import Tenant
from spooled_scheduler.app import SchedulerApp
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.queue_core import QueueCoreClient

pytestmark = pytest.mark.usefixtures("clean")


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_runs_its_loop_on_the_injected_clock(
    dsn: str, pool: asyncpg.Pool, core_client: QueueCoreClient, tenant: Tenant
) -> None:
    clock = ManualClock(T0)
    app = SchedulerApp(
        scheduler_settings(dsn, SCHEDULER_INSTANCE_ID="app-1"), clock=clock, core=core_client
    )
    await app.start()
    try:
        assert app.schedules is not None and app.loop is not None
        lease = app.loop.lease

        async def leading() -> bool:
            return lease.is_leader

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            await wait_for(leading)
            ready = await http.get("/ready")
            assert ready.status_code == 200 and ready.json()["leader"] is True
            assert "spooled_scheduler_ticks_total" in (await http.get("/metrics")).text
        row = await app.schedules.create(tenant, fields("*/5 * * * * *"))
        # The loop sleeps on the manual clock until the first tick is due.
        await clock.advance(5)
        await wait_for(lambda: _has_runs(pool, row["id"], 1))
        await clock.advance(5)
        await wait_for(lambda: _has_runs(pool, row["id"], 2))
    finally:
        await app.stop()
    async with maintenance_tx(pool) as conn:  # resigned on the way out
        assert await conn.fetchval("SELECT count(*) FROM scheduler.leader") == 0
    runs = await runs_of(pool, row["id"])
    assert [r["scheduled_for"] for r in runs] == [
        T0 + timedelta(seconds=5),
        T0 + timedelta(seconds=10),
    ]


async def _has_runs(pool: asyncpg.Pool, schedule_id: str, n: int) -> bool:
    return len(await runs_of(pool, schedule_id)) >= n


async def test_not_ready_while_stopping(dsn: str, core_client: QueueCoreClient) -> None:
    app = SchedulerApp(
        scheduler_settings(dsn), clock=ManualClock(T0), core=core_client, run_loop=False
    )
    await app.start()
    assert await app.ready() is not None
    app._stopping = True
    assert await app.ready() is None
    await app.stop()
