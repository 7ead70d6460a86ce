"""The reaper's dependency sweep (a safety net), on a database of its own (it sweeps every tenant)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from spooled_common.db import create_pool
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_queue_core import db
from spooled_queue_core.app import build_services
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.maintenance.reaper import Reaper
from spooled_queue_core.testing import claim_one, enqueue, job_row, make_settings
from spooled_queue_core.wakeup import Wakeup


@dataclass
class Env:
    pool: asyncpg.Pool
    services: Services
    reaper: Reaper
    tenant: Tenant


@pytest.fixture
async def env(fresh_dsn: str) -> AsyncIterator[Env]:
    await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
    settings = make_settings(fresh_dsn)
    pool = await create_pool(fresh_dsn, min_size=1, max_size=4)
    wake = Wakeup(fresh_dsn)
    await wake.start()
    try:
        services = build_services(pool, settings, wake)
        yield Env(
            pool, services, Reaper(pool, settings, wake.channel), Tenant(f"org-{uuid.uuid4()}")
        )
    finally:
        await wake.stop()
        await pool.close()


async def dead_letter(env: Env, queue: str) -> str:
    job = await enqueue(env.services, env.tenant, queue, max_retries=0)
    row = await claim_one(env.services, env.tenant, queue)
    await env.services.leases.fail(env.tenant, job, "w1", row["lease_id"], "boom")
    return job


class TestSweep:
    async def test_releases_a_job_whose_dependency_was_deleted(self, env: Env) -> None:
        s, t = env.services, env.tenant
        parent = await enqueue(s, t, "sweep-gone")
        waiting = await enqueue(s, t, "sweep-2")
        await s.dependencies.add(t, waiting, [parent])
        # Deleting the queue with its jobs takes the edge along (ON DELETE CASCADE).
        await s.queues.delete(t, "sweep-gone", delete_jobs=True)
        assert not (await job_row(env.pool, waiting))["dependencies_met"]
        assert (await env.reaper.run_once()).unblocked == 1
        [row] = await s.leases.claim(t, "sweep-2", "w1")
        assert row["id"] == waiting

    async def test_cancels_a_child_created_under_a_dead_parent(self, env: Env) -> None:
        s, t = env.services, env.tenant
        dead = await dead_letter(env, "sweep-dead")
        child = await enqueue(s, t, "sweep-dead", parent_job_id=dead)
        assert (await job_row(env.pool, child))["status"] == "pending"
        await env.reaper.run_once()
        row = await job_row(env.pool, child)
        assert (row["status"], row["last_error"]) == (
            "cancelled",
            "Parent job failed or was deadlettered",
        )

    async def test_leaves_jobs_that_still_wait_alone(self, env: Env) -> None:
        s, t = env.services, env.tenant
        parent = await enqueue(s, t, "sweep-wait")
        child = await enqueue(s, t, "sweep-wait", parent_job_id=parent)
        assert (await env.reaper.run_once()).unblocked == 0
        row = await job_row(env.pool, child)
        assert (row["status"], row["dependencies_met"]) == ("pending", False)
