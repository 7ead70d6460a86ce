"""Dependencies of single jobs: parent_job_id edges and GET/POST /jobs/{id}/dependencies."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.testing import claim_one, enqueue, job_row, sql


async def complete(services: Services, tenant: Tenant, queue: str, job_id: str) -> None:
    row = await claim_one(services, tenant, queue)
    assert row["id"] == job_id
    await services.leases.complete(tenant, job_id, "w1", row["lease_id"], None)


class TestParentJobId:
    async def test_is_an_edge(self, services: Services, tenant: Tenant) -> None:
        parent = await enqueue(services, tenant, "pj")
        child = await enqueue(services, tenant, "pj", parent_job_id=parent)
        deps = await services.dependencies.get(tenant, child)
        assert [(d["job_id"], d["status"]) for d in deps.dependencies] == [(parent, "pending")]
        assert deps.dependencies_met is False
        assert [
            d["job_id"] for d in (await services.dependencies.get(tenant, parent)).dependents
        ] == [child]

    async def test_dead_parent_cancels_the_child(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        parent = await enqueue(services, tenant, "pj-dead", max_retries=0)
        child = await enqueue(services, tenant, "pj-dead", parent_job_id=parent)
        row = await claim_one(services, tenant, "pj-dead")
        await services.leases.fail(tenant, parent, "w1", row["lease_id"], "boom")
        got = await job_row(pool, child)
        assert (got["status"], got["last_error"]) == (
            "cancelled",
            "Parent job failed or was deadlettered",
        )

    async def test_child_created_while_its_parent_completes_is_never_stuck(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        """The insert locks the parent FOR SHARE: no window between the two."""
        for i in range(10):
            queue = f"pj-race-{i}"
            parent = await enqueue(services, tenant, queue)
            row = await claim_one(services, tenant, queue)
            _, child = await asyncio.gather(
                services.leases.complete(tenant, parent, "w1", row["lease_id"], None),
                enqueue(services, tenant, queue, parent_job_id=parent),
            )
            assert (await job_row(pool, child))["dependencies_met"], i


class TestAddDependencies:
    async def test_blocks_until_the_new_dependency_completes(
        self, services: Services, tenant: Tenant
    ) -> None:
        first = await enqueue(services, tenant, "dep-a")
        job = await enqueue(services, tenant, "dep-b")
        added = await services.dependencies.add(tenant, job, [first])
        assert (added.dependencies_added, added.dependencies_met) == (1, False)
        assert await services.leases.claim(tenant, "dep-b", "w1") == []
        await complete(services, tenant, "dep-a", first)
        [row] = await services.leases.claim(tenant, "dep-b", "w1")
        assert row["id"] == job

    async def test_already_completed_dependency_is_met(
        self, services: Services, tenant: Tenant
    ) -> None:
        first = await enqueue(services, tenant, "dep-done")
        await complete(services, tenant, "dep-done", first)
        job = await enqueue(services, tenant, "dep-done-2")
        added = await services.dependencies.add(tenant, job, [first, first])
        assert (added.dependencies_added, added.dependencies_met) == (1, True)

    async def test_any_mode(self, services: Services, tenant: Tenant) -> None:
        a = await enqueue(services, tenant, "dep-any-a")
        b = await enqueue(services, tenant, "dep-any-b")
        job = await enqueue(services, tenant, "dep-any")
        await services.dependencies.add(tenant, job, [a, b], "any")
        deps = await services.dependencies.get(tenant, job)
        assert deps.dependency_mode == "any" and not deps.dependencies_met
        await complete(services, tenant, "dep-any-b", b)
        assert (await services.dependencies.get(tenant, job)).dependencies_met

    async def test_self_and_cycles_are_skipped(self, services: Services, tenant: Tenant) -> None:
        a = await enqueue(services, tenant, "dep-cyc")
        b = await enqueue(services, tenant, "dep-cyc")
        assert (await services.dependencies.add(tenant, b, [a])).dependencies_added == 1
        # a -> b would close a cycle (b already waits for a); a -> a is a self-loop.
        added = await services.dependencies.add(tenant, a, [b, a])
        assert added.dependencies_added == 0 and added.dependencies_met

    async def test_dead_dependency_cancels_the_job(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        dead = await enqueue(services, tenant, "dep-dead", max_retries=0)
        row = await claim_one(services, tenant, "dep-dead")
        await services.leases.fail(tenant, dead, "w1", row["lease_id"], "boom")
        job = await enqueue(services, tenant, "dep-dead-2")
        added = await services.dependencies.add(tenant, job, [dead])
        assert (added.status, added.dependencies_met) == ("cancelled", False)
        assert (await job_row(pool, job))["last_error"] == "Parent job failed or was deadlettered"

    async def test_unknown_or_foreign_dependency_is_404_and_adds_nothing(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        stranger = Tenant(f"org-{uuid.uuid4()}")
        foreign = await enqueue(services, stranger, "dep-x")
        known = await enqueue(services, tenant, "dep-x")
        job = await enqueue(services, tenant, "dep-x")
        for missing in ("no-such-job", foreign):
            with pytest.raises(errors.NotFound):
                await services.dependencies.add(tenant, job, [known, missing])
        [row] = await sql(
            pool, "SELECT count(*) AS n FROM core.job_dependencies WHERE job_id = $1", job
        )
        assert row["n"] == 0
        with pytest.raises(errors.NotFound):
            await services.dependencies.get(stranger, job)
        with pytest.raises(errors.NotFound):
            await services.dependencies.add(stranger, job, [foreign])

    async def test_started_job_is_409(self, services: Services, tenant: Tenant) -> None:
        a = await enqueue(services, tenant, "dep-started")
        job = await enqueue(services, tenant, "dep-started-2")
        await claim_one(services, tenant, "dep-started-2")
        with pytest.raises(errors.Conflict, match="processing"):
            await services.dependencies.add(tenant, job, [a])

    @pytest.mark.parametrize(
        ("ids", "mode"), [([], "all"), ([f"j{i}" for i in range(101)], "all"), (["a"], "some")]
    )
    async def test_bad_request(
        self, services: Services, tenant: Tenant, ids: list[str], mode: str
    ) -> None:
        job = await enqueue(services, tenant, "dep-bad")
        with pytest.raises(errors.ValidationError):
            await services.dependencies.add(tenant, job, ids, mode)
