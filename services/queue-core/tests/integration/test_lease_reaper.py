"""The reaper and the due-job wake-ups, on a database of their own (they sweep every tenant)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import timefmt, tracing
from spooled_common.db import create_pool
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_queue_core import db
from spooled_queue_core.app import build_services
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.maintenance.due_jobs import DueJobNotifier
from spooled_queue_core.maintenance.reaper import Reaper
from spooled_queue_core.testing import claim_one, enqueue, expire_lease, job_row, make_settings, sql
from spooled_queue_core.wakeup import Wakeup
from spooled_queue_core.workers.models import NewWorker


@dataclass
class Env:
    pool: asyncpg.Pool
    services: Services
    reaper: Reaper
    due: DueJobNotifier
    tenant: Tenant


@pytest.fixture
async def env(fresh_dsn: str) -> AsyncIterator[Env]:
    await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
    settings = make_settings(fresh_dsn, WORKER_STALE_AFTER_SECS=60, QUEUE_CORE_REAPER_BATCH_SIZE=2)
    pool = await create_pool(fresh_dsn, min_size=1, max_size=4)
    wake = Wakeup(fresh_dsn)
    await wake.start()
    try:
        yield Env(
            pool,
            build_services(pool, settings, wake),
            Reaper(pool, settings, wake.channel),
            DueJobNotifier(pool, wake.channel),
            Tenant(f"org-{uuid.uuid4()}"),
        )
    finally:
        await wake.stop()
        await pool.close()


class TestLeaseReaper:
    async def test_requeues_expired_lease_with_a_retry_charged(self, env: Env) -> None:
        s, t = env.services, env.tenant
        job_id = await enqueue(s, t)
        lease = (await claim_one(s, t))["lease_id"]
        await expire_lease(env.pool, job_id)
        reaped = await env.reaper.run_once()
        assert (reaped.requeued, reaped.deadlettered) == (1, 0)
        row = await job_row(env.pool, job_id)
        assert row["status"] == "pending" and row["retry_count"] == 1
        assert row["last_error"] == "Lease expired (worker timeout)" and row["lease_id"] is None
        # The old holder is fenced out; a new claimer gets it immediately.
        again = await claim_one(s, t, worker="w2")
        assert again["id"] == job_id and again["lease_id"] != lease

    async def test_dead_letters_when_retries_are_exhausted(self, env: Env) -> None:
        s, t = env.services, env.tenant
        job_id = await enqueue(s, t, max_retries=0)
        await claim_one(s, t)
        await expire_lease(env.pool, job_id)
        assert (await env.reaper.run_once()).deadlettered == 1
        row = await job_row(env.pool, job_id)
        assert row["status"] == "deadletter"
        assert row["last_error"] == "Max retries exceeded after lease expiration"
        assert (
            len(
                await sql(
                    env.pool, "SELECT 1 FROM core.dead_letter_queue WHERE job_id = $1", job_id
                )
            )
            == 1
        )

    async def test_sweeps_in_batches_across_tenants(self, env: Env) -> None:
        s = env.services
        ids = []
        for n in range(5):  # batch size is 2: three statements
            tenant = Tenant(f"{env.tenant.org_id}-{n}")
            ids.append(await enqueue(s, tenant))
            await claim_one(s, tenant)
            await expire_lease(env.pool, ids[-1])
        assert (await env.reaper.run_once()).requeued == 5

    async def test_live_leases_are_left_alone(self, env: Env) -> None:
        job_id = await enqueue(env.services, env.tenant)
        await claim_one(env.services, env.tenant)
        assert (await env.reaper.run_once()).requeued == 0
        assert (await job_row(env.pool, job_id))["status"] == "processing"

    async def test_requeue_wakes_a_waiting_claimer(self, env: Env) -> None:
        s, t = env.services, env.tenant
        job_id = await enqueue(s, t)
        await claim_one(s, t)
        await expire_lease(env.pool, job_id)
        waiter = asyncio.create_task(s.leases.claim(t, "q", "w2", wait_ms=20_000))
        await asyncio.sleep(0.2)
        await env.reaper.run_once()
        assert [r["id"] for r in await asyncio.wait_for(waiter, 10)] == [job_id]


class TestStaleWorkers:
    async def test_silent_worker_goes_offline_and_its_jobs_are_released(self, env: Env) -> None:
        s, t = env.services, env.tenant
        worker = await s.workers.register(t, NewWorker("q", "host-1"))
        job_id = await enqueue(s, t)
        await claim_one(s, t, worker=worker["id"])
        await sql(
            env.pool,
            "UPDATE core.workers SET last_heartbeat = now() - interval '5 min' WHERE id = $1",
            worker["id"],
        )
        reaped = await env.reaper.run_once()
        assert (reaped.offline_workers, reaped.released_jobs) == (1, 1)
        assert (await s.workers.get(t, worker["id"]))["status"] == "offline"
        row = await job_row(env.pool, job_id)
        assert row["status"] == "pending" and row["last_error"] == "Worker went offline"
        assert await s.workers.heartbeat(t, worker["id"]) is True  # told to drain


class TestDueJobs:
    async def test_wakes_claimers_when_a_delayed_job_comes_due(self, env: Env) -> None:
        s, t = env.services, env.tenant
        job_id = await enqueue(s, t, scheduled_at=timefmt.now() + timedelta(seconds=1))
        await env.due.run_once()  # nothing due yet
        waiter = asyncio.create_task(s.leases.claim(t, "q", "w", wait_ms=20_000))
        await asyncio.sleep(1.2)
        assert not waiter.done()
        assert await env.due.run_once() == 1
        assert [r["id"] for r in await asyncio.wait_for(waiter, 10)] == [job_id]


class TestTraceContext:
    """A job the reaper dead-letters keeps its trace: the job.failed event (and so its
    completion webhook) continues the enqueue's trace, as a worker's own failure does."""

    async def _traced_job(self, env: Env, worker: str = "w1") -> tuple[str, str]:
        with tracing.tracer().start_as_current_span("enqueue", kind=trace.SpanKind.SERVER):
            job_id = await enqueue(env.services, env.tenant, max_retries=0)
        await claim_one(env.services, env.tenant, worker=worker)
        traceparent = (await job_row(env.pool, job_id))["traceparent"]
        assert traceparent, "the enqueue stored no trace context"
        return job_id, traceparent

    async def _failed_event(self, env: Env, job_id: str) -> str | None:
        [row] = await sql(
            env.pool,
            "SELECT traceparent FROM core.outbox WHERE aggregate = $1 AND event_type = 'job.failed'",
            job_id,
        )
        return row["traceparent"]  # type: ignore[no-any-return]

    async def test_an_expired_lease(self, env: Env, span_exporter: InMemorySpanExporter) -> None:
        job_id, traceparent = await self._traced_job(env)
        await expire_lease(env.pool, job_id)
        assert (await env.reaper.run_once()).deadlettered == 1
        assert await self._failed_event(env, job_id) == traceparent

    async def test_a_silent_worker(self, env: Env, span_exporter: InMemorySpanExporter) -> None:
        worker = await env.services.workers.register(env.tenant, NewWorker("q", "host-1"))
        job_id, traceparent = await self._traced_job(env, worker=worker["id"])
        await sql(
            env.pool,
            "UPDATE core.workers SET last_heartbeat = now() - interval '5 min' WHERE id = $1",
            worker["id"],
        )
        assert (await env.reaper.run_once()).released_jobs == 1
        assert await self._failed_event(env, job_id) == traceparent
