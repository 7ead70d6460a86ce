"""Queues: config upsert, pause/resume, stats, deletion."""

from __future__ import annotations

import asyncpg
import orjson
import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.queues.models import QueueUpdate
from spooled_queue_core.testing import claim_one, enqueue, sql


class TestConfig:
    async def test_upsert_keeps_omitted_fields_and_merges_settings(
        self, services: Services, tenant: Tenant
    ) -> None:
        row = await services.queues.update_config(
            tenant, "q", QueueUpdate(max_retries=5, rate_limit=10, settings='{"a": 1}')
        )
        assert (row["max_retries"], row["default_timeout"], row["enabled"]) == (5, 300, True)
        row = await services.queues.update_config(
            tenant, "q", QueueUpdate(default_timeout=60, settings='{"b": 2}')
        )
        assert (row["max_retries"], row["default_timeout"], row["rate_limit"]) == (5, 60, 10)
        assert orjson.loads(row["settings"]) == {"a": 1, "b": 2}

    async def test_settings_must_be_an_object(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.ValidationError):
            await services.queues.update_config(tenant, "q", QueueUpdate(settings="[1]"))

    async def test_out_of_range_is_a_validation_error(
        self, services: Services, tenant: Tenant
    ) -> None:
        with pytest.raises(errors.ValidationError):
            await services.queues.update_config(tenant, "q", QueueUpdate(max_retries=101))

    async def test_get_and_list(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.NotFound):
            await services.queues.get(tenant, "q")
        await services.queues.update_config(tenant, "b", QueueUpdate())
        await services.queues.update_config(tenant, "a", QueueUpdate())
        assert (await services.queues.get(tenant, "a"))["queue_name"] == "a"
        assert [r["queue_name"] for r in await services.queues.list_configs(tenant)] == ["a", "b"]
        scoped = Tenant(tenant.org_id, frozenset({"b"}))
        assert [r["queue_name"] for r in await services.queues.list_configs(scoped)] == ["b"]

    async def test_out_of_scope_write_is_refused(self, services: Services, tenant: Tenant) -> None:
        scoped = Tenant(tenant.org_id, frozenset({"mine"}))
        for call in (
            services.queues.update_config(scoped, "theirs", QueueUpdate()),
            services.queues.pause(scoped, "theirs"),
            services.queues.delete(scoped, "theirs"),
        ):
            with pytest.raises(errors.AccessDenied):
                await call


class TestPauseResume:
    async def test_pause_then_resume(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        await enqueue(services, tenant)  # the queue exists through its first job
        paused = await services.queues.pause(tenant, "q", "deploy")
        assert paused.reason == "deploy"
        settings = orjson.loads((await services.queues.get(tenant, "q"))["settings"])
        assert settings["paused"] is True and settings["paused_reason"] == "deploy"
        assert (await services.queues.stats(tenant, "q"))["paused"] is True
        resumed = await services.queues.resume(tenant, "q")
        assert resumed.paused_duration_secs >= 0
        assert (await services.queues.get(tenant, "q"))["enabled"] is True
        events = await sql(
            pool,
            "SELECT event_type FROM core.outbox WHERE organization_id = $1 ORDER BY id",
            tenant.org_id,
        )
        assert [e["event_type"] for e in events][-2:] == ["queue.paused", "queue.resumed"]

    async def test_pause_unknown_queue_is_not_found_and_creates_nothing(
        self, services: Services, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        with pytest.raises(errors.NotFound):
            await services.queues.pause(tenant, "ghost", "typo")
        rows = await sql(
            pool, "SELECT 1 FROM core.queue_config WHERE organization_id = $1", tenant.org_id
        )
        assert rows == []

    async def test_resume_unknown_queue_is_not_found(
        self, services: Services, tenant: Tenant
    ) -> None:
        with pytest.raises(errors.NotFound):
            await services.queues.resume(tenant, "nope")


class TestStats:
    async def test_counts_and_ages(self, services: Services, tenant: Tenant) -> None:
        await enqueue(services, tenant)
        done = await enqueue(services, tenant)
        await enqueue(services, tenant)
        row = await claim_one(services, tenant)
        await services.leases.complete(tenant, row["id"], "w1", row["lease_id"], None)
        stats = await services.queues.stats(tenant, "q")
        assert (stats["pending"], stats["completed"], stats["total"]) == (2, 1, 3)
        assert stats["completed_24h"] == 1 and stats["avg_processing_time_ms"] is not None
        assert stats["max_age_ms"] >= 0 and done


class TestDelete:
    async def test_refused_while_jobs_are_active(self, services: Services, tenant: Tenant) -> None:
        await services.queues.update_config(tenant, "q", QueueUpdate())
        await enqueue(services, tenant)
        with pytest.raises(errors.Conflict):
            await services.queues.delete(tenant, "q")
        await services.queues.delete(tenant, "q", delete_jobs=True)
        assert (await services.jobs.stats(tenant, "q"))["total"] == 0
        with pytest.raises(errors.NotFound):
            await services.queues.get(tenant, "q")

    async def test_unknown_queue_is_not_found(self, services: Services, tenant: Tenant) -> None:
        with pytest.raises(errors.NotFound):
            await services.queues.delete(tenant, "nope")
