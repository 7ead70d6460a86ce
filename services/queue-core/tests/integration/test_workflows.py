"""Workflows (API.md §9) on real Postgres, driven through real claims and settlements.

The diamond A → (B, C) → D is the running example: B and C wait for A, D waits
for both (mode ``all``) or either (mode ``any``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.testing import job_row, sql
from spooled_queue_core.workflows.models import CreatedWorkflow, NewWorkflow, WorkflowJob

WORKFLOW_TABLES = ("workflows", "jobs", "job_dependencies", "job_history", "outbox")


def diamond(mode: str = "all", *, b_retries: int | None = None) -> NewWorkflow:
    return NewWorkflow(
        name="diamond",
        description="A then B and C, then D",
        metadata='{"team": "etl"}',
        jobs=(
            WorkflowJob("a", "wf-a", '{"step": "a"}'),
            WorkflowJob("b", "wf-bc", '{"step": "b"}', ("a",), max_retries=b_retries),
            WorkflowJob("c", "wf-bc", '{"step": "c"}', ("a",)),
            WorkflowJob("d", "wf-d", '{"step": "d"}', ("b", "c"), dependency_mode=mode),
        ),
    )


def ids(created: CreatedWorkflow) -> dict[str, str]:
    return dict(created.job_ids)


async def claim(
    services: Services, tenant: Tenant, queue: str, limit: int = 10, worker: str = "w1"
) -> list[asyncpg.Record]:
    return await services.leases.claim(tenant, queue, worker, limit=limit)


async def run(
    services: Services, tenant: Tenant, queue: str, expect: Sequence[str], result: str = "{}"
) -> None:
    """Claim everything claimable on ``queue``: exactly ``expect``; complete it all."""
    rows = await claim(services, tenant, queue)
    assert sorted(r["id"] for r in rows) == sorted(expect)
    for r in rows:
        await services.leases.complete(tenant, r["id"], "w1", r["lease_id"], result)


async def fail_for_good(services: Services, tenant: Tenant, queue: str, job_id: str) -> None:
    [row] = await claim(services, tenant, queue, limit=1)
    assert row["id"] == job_id
    settled = await services.leases.fail(tenant, job_id, "w1", row["lease_id"], "boom")
    assert settled.status == "deadletter"


async def workflow(services: Services, tenant: Tenant, wf_id: str) -> asyncpg.Record:
    return (await services.workflows.get(tenant, wf_id)).workflow


async def workflow_of(
    services: Services, tenant: Tenant, pool: asyncpg.Pool, job_id: str
) -> asyncpg.Record:
    return await workflow(services, tenant, (await job_row(pool, job_id))["workflow_id"])


async def events(pool: asyncpg.Pool, tenant: Tenant, prefix: str) -> list[dict[str, Any]]:
    rows = await sql(
        pool,
        "SELECT event_type, aggregate, payload::text AS payload FROM core.outbox "
        "WHERE organization_id = $1 AND event_type LIKE $2 ORDER BY id",
        tenant.org_id,
        prefix + "%",
    )
    return [dict(r) for r in rows]


async def count_rows(pool: asyncpg.Pool, tenant: Tenant) -> dict[str, int]:
    out = {}
    for table in WORKFLOW_TABLES:
        [row] = await sql(
            pool,
            f"SELECT count(*) AS n FROM core.{table} WHERE organization_id = $1",
            tenant.org_id,
        )
        out[table] = row["n"]
    return out


class TestCreate:
    async def test_one_transaction_of_jobs_and_edges(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond())
        assert created.status == "pending"
        assert [k for k, _ in created.job_ids] == ["a", "b", "c", "d"]
        job = ids(created)
        detail = await services.workflows.get(tenant, created.workflow_id)
        wf = detail.workflow
        assert (wf["name"], wf["status"], wf["total_jobs"]) == ("diamond", "pending", 4)
        assert wf["metadata"] == '{"team": "etl"}'
        assert [(r["workflow_key"], r["dependencies_met"]) for r in detail.jobs] == [
            ("a", True),
            ("b", False),
            ("c", False),
            ("d", False),
        ]
        assert all(r["workflow_id"] == created.workflow_id for r in detail.jobs)
        assert {(e["parent_job_id"], e["child_job_id"]) for e in detail.edges} == {
            (job["a"], job["b"]),
            (job["a"], job["c"]),
            (job["b"], job["d"]),
            (job["c"], job["d"]),
        }
        assert (await job_row(pool, job["d"]))["workflow_step"] == 3

    async def test_repeated_dependency_is_one_edge(
        self, services: Services, tenant: Tenant
    ) -> None:
        wf = NewWorkflow(
            "dup-deps", (WorkflowJob("a", "q"), WorkflowJob("b", "q", "1", ("a", "a")))
        )
        created = await services.workflows.create(tenant, wf)
        assert len((await services.workflows.get(tenant, created.workflow_id)).edges) == 1


class TestDiamond:
    async def test_runs_in_order_through_real_claims(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond())
        job, wf_id = ids(created), created.workflow_id
        # Only A is claimable at first.
        assert await claim(services, tenant, "wf-bc") == []
        assert await claim(services, tenant, "wf-d") == []
        await run(services, tenant, "wf-a", [job["a"]], '{"a": 1}')
        assert (await workflow(services, tenant, wf_id))["status"] == "running"
        # B and C now; D still waits for both.
        [b, c] = await claim(services, tenant, "wf-bc")
        assert {b["id"], c["id"]} == {job["b"], job["c"]}
        await services.leases.complete(tenant, b["id"], "w1", b["lease_id"], None)
        assert await claim(services, tenant, "wf-d") == []
        await services.leases.complete(tenant, c["id"], "w1", c["lease_id"], None)
        await run(services, tenant, "wf-d", [job["d"]])
        done = await workflow(services, tenant, wf_id)
        assert (done["status"], done["completed_jobs"], done["failed_jobs"]) == ("completed", 4, 0)
        assert done["started_at"] is not None and done["completed_at"] is not None
        [event] = await events(pool, tenant, "workflow.")
        assert event["event_type"] == "workflow.completed" and event["aggregate"] == wf_id
        # Each job started after the jobs it waits for completed.
        rows = {k: await job_row(pool, v) for k, v in job.items()}
        assert rows["a"]["completed_at"] <= rows["b"]["started_at"]
        assert rows["a"]["completed_at"] <= rows["c"]["started_at"]
        assert max(rows["b"]["completed_at"], rows["c"]["completed_at"]) <= rows["d"]["started_at"]

    async def test_completion_wakes_a_waiting_claimer_at_once(
        self, services: Services, tenant: Tenant
    ) -> None:
        """D arrives through LISTEN/NOTIFY, long before the claim's 30 s re-check."""
        created = await services.workflows.create(tenant, diamond())
        job = ids(created)
        await run(services, tenant, "wf-a", [job["a"]])
        [b, c] = await claim(services, tenant, "wf-bc")
        await services.leases.complete(tenant, b["id"], "w1", b["lease_id"], None)
        waiter = asyncio.create_task(services.leases.claim(tenant, "wf-d", "w2", wait_ms=20_000))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await services.leases.complete(tenant, c["id"], "w1", c["lease_id"], None)
        [row] = await asyncio.wait_for(waiter, 5)
        assert row["id"] == job["d"]
        assert loop.time() - start < 2

    async def test_failed_b_cancels_d_and_fails_the_workflow(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond(b_retries=0))
        job, wf_id = ids(created), created.workflow_id
        await run(services, tenant, "wf-a", [job["a"]])
        [first, second] = await claim(services, tenant, "wf-bc")
        b = first if first["id"] == job["b"] else second
        c = second if b is first else first
        await services.leases.fail(tenant, job["b"], "w1", b["lease_id"], "boom")
        d = await job_row(pool, job["d"])
        assert d["status"] == "cancelled"
        assert d["last_error"] == "Parent job failed or was deadlettered"
        # C is still running: the workflow has not finished failing yet.
        assert (await workflow(services, tenant, wf_id))["status"] == "running"
        await services.leases.complete(tenant, c["id"], "w1", c["lease_id"], None)
        wf = await workflow(services, tenant, wf_id)
        assert (wf["status"], wf["completed_jobs"], wf["failed_jobs"], wf["cancelled_jobs"]) == (
            "failed",
            2,
            1,
            1,
        )
        assert [e["event_type"] for e in await events(pool, tenant, "workflow.")] == [
            "workflow.failed"
        ]
        [cancelled] = [
            e for e in await events(pool, tenant, "job.cancelled") if e["aggregate"] == job["d"]
        ]
        assert job["b"] in cancelled["payload"]

    async def test_retry_reruns_only_failed_and_cancelled_jobs(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond(b_retries=0))
        job, wf_id = ids(created), created.workflow_id
        await run(services, tenant, "wf-a", [job["a"]], '{"kept": true}')
        [first, second] = await claim(services, tenant, "wf-bc")
        b = first if first["id"] == job["b"] else second
        c = second if b is first else first
        await services.leases.complete(tenant, c["id"], "w1", c["lease_id"], None)
        await services.leases.fail(tenant, job["b"], "w1", b["lease_id"], "boom")
        assert (await workflow(services, tenant, wf_id))["status"] == "failed"
        a_before = await job_row(pool, job["a"])

        retried = await services.workflows.retry(tenant, wf_id)
        assert retried["status"] == "running"
        rows = {k: await job_row(pool, v) for k, v in job.items()}
        assert {k: r["status"] for k, r in rows.items()} == {
            "a": "completed",
            "b": "pending",
            "c": "completed",
            "d": "pending",
        }
        assert rows["a"]["completed_at"] == a_before["completed_at"]
        assert rows["a"]["result"] == a_before["result"]
        assert (rows["b"]["retry_count"], rows["b"]["last_error"]) == (0, None)
        assert rows["b"]["dependencies_met"] and not rows["d"]["dependencies_met"]
        [dlq] = await sql(
            pool, "SELECT count(*) AS n FROM core.dead_letter_queue WHERE job_id = $1", job["b"]
        )
        assert dlq["n"] == 0
        # Only B runs again (A and C are not re-run), then D.
        assert await claim(services, tenant, "wf-a") == []
        await run(services, tenant, "wf-bc", [job["b"]])
        await run(services, tenant, "wf-d", [job["d"]])
        wf = await workflow(services, tenant, wf_id)
        assert (wf["status"], wf["completed_jobs"], wf["failed_jobs"]) == ("completed", 4, 0)
        assert [e["event_type"] for e in await events(pool, tenant, "workflow.")] == [
            "workflow.failed",
            "workflow.completed",
        ]

    async def test_only_failed_workflows_can_be_retried(
        self, services: Services, tenant: Tenant
    ) -> None:
        created = await services.workflows.create(tenant, diamond())
        with pytest.raises(errors.ValidationError, match="status 'pending'"):
            await services.workflows.retry(tenant, created.workflow_id)


class TestAnyMode:
    async def test_one_completed_dependency_is_enough(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond("any"))
        job = ids(created)
        await run(services, tenant, "wf-a", [job["a"]])
        [first, second] = await claim(services, tenant, "wf-bc")
        await services.leases.complete(tenant, first["id"], "w1", first["lease_id"], None)
        # D runs while the other branch is still processing.
        await run(services, tenant, "wf-d", [job["d"]])
        await services.leases.complete(tenant, second["id"], "w1", second["lease_id"], None)
        assert (await workflow(services, tenant, created.workflow_id))["status"] == "completed"

    async def test_one_dead_branch_is_not_fatal(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond("any", b_retries=0))
        job = ids(created)
        await run(services, tenant, "wf-a", [job["a"]])
        [first, second] = await claim(services, tenant, "wf-bc")
        b = first if first["id"] == job["b"] else second
        c = second if b is first else first
        await services.leases.fail(tenant, job["b"], "w1", b["lease_id"], "boom")
        d = await job_row(pool, job["d"])
        assert (d["status"], d["dependencies_met"]) == ("pending", False)
        await services.leases.complete(tenant, c["id"], "w1", c["lease_id"], None)
        await run(services, tenant, "wf-d", [job["d"]])
        # B dead-lettered: the workflow ends failed although D ran.
        assert (await workflow(services, tenant, created.workflow_id))["status"] == "failed"

    async def test_every_dependency_dead_cancels(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        wf = NewWorkflow(
            "any-dead",
            (
                WorkflowJob("b", "any-q", max_retries=0, priority=1),
                WorkflowJob("c", "any-q", max_retries=0),
                WorkflowJob("d", "any-d", depends_on=("b", "c"), dependency_mode="any"),
            ),
        )
        job = ids(await services.workflows.create(tenant, wf))
        await fail_for_good(services, tenant, "any-q", job["b"])
        assert (await job_row(pool, job["d"]))["status"] == "pending"
        await fail_for_good(services, tenant, "any-q", job["c"])
        assert (await job_row(pool, job["d"]))["status"] == "cancelled"


class TestCascade:
    async def test_cancellation_is_recursive(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        wf = NewWorkflow(
            "chain",
            (
                WorkflowJob("a", "chain", max_retries=0),
                WorkflowJob("b", "chain", depends_on=("a",)),
                WorkflowJob("c", "chain", depends_on=("b",)),
                WorkflowJob("side", "chain-side"),
            ),
        )
        created = await services.workflows.create(tenant, wf)
        job = ids(created)
        await fail_for_good(services, tenant, "chain", job["a"])
        for key in ("b", "c"):
            row = await job_row(pool, job[key])
            assert row["status"] == "cancelled" and row["last_error"], key
        # The independent job still runs; then the workflow is failed.
        assert (await workflow(services, tenant, created.workflow_id))["status"] == "running"
        await run(services, tenant, "chain-side", [job["side"]])
        assert (await workflow(services, tenant, created.workflow_id))["status"] == "failed"

    async def test_reaper_dead_letter_cascades_too(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        """Any path to a terminal state settles dependents (here: the lease reaper's SQL)."""
        wf = NewWorkflow(
            "reaped",
            (WorkflowJob("a", "reaped", max_retries=0), WorkflowJob("b", "r2", "1", ("a",))),
        )
        job = ids(await services.workflows.create(tenant, wf))
        [row] = await claim(services, tenant, "reaped")
        # What reap_expired_leases does to an exhausted job, scoped to this tenant.
        await sql(
            pool,
            "UPDATE core.jobs SET status = 'deadletter', lease_id = NULL, lease_expires_at = NULL "
            "WHERE id = $1",
            row["id"],
        )
        assert (await job_row(pool, job["b"]))["status"] == "cancelled"


class TestConcurrency:
    async def test_two_parents_completing_at_once_unblock_the_child_exactly_once(
        self, services: Services, tenant: Tenant, core_dsn: str
    ) -> None:
        """B and C complete concurrently on two connections; D's wake-up is sent once."""
        listener = await asyncpg.connect(core_dsn)
        seen: list[str] = []
        await listener.add_listener(
            "spooled_core_jobs_v1", lambda _c, _p, _ch, msg: seen.append(msg)
        )
        try:
            for i in range(15):
                queue = f"race-d-{i}"
                wf = NewWorkflow(
                    "race",
                    (
                        WorkflowJob("b", "race-bc"),
                        WorkflowJob("c", "race-bc"),
                        WorkflowJob("d", queue, depends_on=("b", "c")),
                    ),
                )
                job = ids(await services.workflows.create(tenant, wf))
                rows = await claim(services, tenant, "race-bc")
                assert len(rows) == 2
                await asyncio.gather(
                    *(
                        services.leases.complete(tenant, r["id"], "w1", r["lease_id"], None)
                        for r in rows
                    )
                )
                [d] = await claim(services, tenant, queue)
                assert d["id"] == job["d"]
                await asyncio.sleep(0.05)  # let the notification arrive
                assert seen.count(f"{tenant.org_id}\t{queue}") == 1, i
        finally:
            await listener.close()

    async def test_workflow_counts_stay_exact_under_concurrent_settlement(
        self, services: Services, tenant: Tenant
    ) -> None:
        jobs = tuple(WorkflowJob(f"j{i}", "wide") for i in range(20))
        created = await services.workflows.create(tenant, NewWorkflow("wide", jobs))
        rows = await claim(services, tenant, "wide", limit=20)
        await asyncio.gather(
            *(services.leases.complete(tenant, r["id"], "w1", r["lease_id"], None) for r in rows)
        )
        wf = await workflow(services, tenant, created.workflow_id)
        assert (wf["status"], wf["completed_jobs"], wf["total_jobs"]) == ("completed", 20, 20)

    async def test_two_transactions_touching_two_workflows_in_opposite_orders(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool, core_dsn: str
    ) -> None:
        """Commit-time refreshes lock workflows in id order: no deadlock (e.g. two batch claims)."""
        two = NewWorkflow("pair", (WorkflowJob("x", "pair"), WorkflowJob("y", "pair")))
        first = ids(await services.workflows.create(tenant, two))
        second = ids(await services.workflows.create(tenant, two))
        conns = [await asyncpg.connect(core_dsn) for _ in range(2)]
        try:
            orders = [(first["x"], second["x"]), (second["y"], first["y"])]
            txs = []
            for conn, order in zip(conns, orders, strict=True):
                tx = conn.transaction()
                await tx.start()
                await conn.execute(
                    "SELECT set_config('app.current_org_id', $1, true)", tenant.org_id
                )
                for job_id in order:
                    await conn.execute(
                        "UPDATE core.jobs SET status = 'cancelled' WHERE id = $1", job_id
                    )
                txs.append(tx)
            await asyncio.wait_for(asyncio.gather(*(tx.commit() for tx in txs)), 10)
        finally:
            for conn in conns:
                await conn.close()
        for created in (first, second):
            row = await workflow_of(services, tenant, pool, created["x"])
            assert (row["status"], row["cancelled_jobs"]) == ("failed", 2)


class TestCancel:
    async def test_cancels_waiting_jobs_and_lets_running_ones_finish(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        created = await services.workflows.create(tenant, diamond())
        job, wf_id = ids(created), created.workflow_id
        [a] = await claim(services, tenant, "wf-a")
        row = await services.workflows.cancel(tenant, wf_id)
        assert row["status"] == "cancelled" and row["completed_at"] is not None
        assert {k: (await job_row(pool, v))["status"] for k, v in job.items()} == {
            "a": "processing",
            "b": "cancelled",
            "c": "cancelled",
            "d": "cancelled",
        }
        await services.leases.complete(tenant, a["id"], "w1", a["lease_id"], None)
        wf = await workflow(services, tenant, wf_id)
        assert (wf["status"], wf["completed_jobs"], wf["cancelled_jobs"]) == ("cancelled", 1, 3)
        assert await events(pool, tenant, "workflow.") == []
        with pytest.raises(errors.Conflict, match="status 'cancelled'"):
            await services.workflows.cancel(tenant, wf_id)


class TestBadInput:
    @pytest.mark.parametrize(
        ("jobs", "message"),
        [
            (
                (
                    WorkflowJob("a", "q", depends_on=("b",)),
                    WorkflowJob("b", "q", depends_on=("a",)),
                ),
                "Circular dependency detected in workflow: a -> b -> a",
            ),
            ((WorkflowJob("a", "q", depends_on=("a",)),), "Circular dependency"),
            ((WorkflowJob("a", "q", depends_on=("zz",)),), "Job 'a' depends on unknown job 'zz'"),
            ((WorkflowJob("a", "q"), WorkflowJob("a", "q")), "Duplicate job key 'a'"),
            (tuple(WorkflowJob(f"k{i}", "q") for i in range(101)), "at most 100 jobs"),
            ((), "at least one job"),
            ((WorkflowJob("a b", "q"),), r"jobs\[0\].key must be"),
            ((WorkflowJob("a", "q", priority=101),), r"jobs\[0\].priority"),
            ((WorkflowJob("a", "q", dependency_mode="some"),), "dependency_mode"),
            ((WorkflowJob("a", ""),), "queue_name"),
        ],
    )
    async def test_refused_with_nothing_stored(
        self,
        services: Services,
        tenant: Tenant,
        pool: asyncpg.Pool,
        jobs: tuple[WorkflowJob, ...],
        message: str,
    ) -> None:
        with pytest.raises(errors.ValidationError, match=message):
            await services.workflows.create(tenant, NewWorkflow("bad", jobs))
        assert await count_rows(pool, tenant) == dict.fromkeys(WORKFLOW_TABLES, 0)

    async def test_database_refusal_rolls_everything_back(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        """A failure inside the transaction (here: invalid JSON) leaves no row behind."""
        wf = NewWorkflow(
            "bad-json", (WorkflowJob("a", "q"), WorkflowJob("b", "q", "{oops", ("a",)))
        )
        with pytest.raises(errors.AppError):
            await services.workflows.create(tenant, wf)
        assert await count_rows(pool, tenant) == dict.fromkeys(WORKFLOW_TABLES, 0)


class TestTenancy:
    async def test_other_orgs_workflow_is_not_found(
        self, services: Services, tenant: Tenant
    ) -> None:
        created = await services.workflows.create(tenant, diamond())
        stranger = Tenant(f"org-{uuid.uuid4()}")
        for call in (services.workflows.get, services.workflows.cancel, services.workflows.retry):
            with pytest.raises(errors.NotFound):
                await call(stranger, created.workflow_id)
        assert await services.workflows.list_workflows(stranger) == []
        # And the owner still sees it untouched.
        assert (await workflow(services, tenant, created.workflow_id))["status"] == "pending"

    async def test_row_level_security_hides_the_new_tables(
        self, services: Services, tenant: Tenant, pool: asyncpg.Pool
    ) -> None:
        await services.workflows.create(tenant, diamond())
        async with tenant_tx(pool, f"org-{uuid.uuid4()}") as conn:
            for table in ("workflows", "job_dependencies"):
                assert await conn.fetchval(f"SELECT count(*) FROM core.{table}") == 0
        async with tenant_tx(pool, tenant.org_id) as conn:
            assert await conn.fetchval("SELECT count(*) FROM core.job_dependencies") == 4

    async def test_scoped_key(self, services: Services, tenant: Tenant) -> None:
        created = await services.workflows.create(tenant, diamond())
        scoped = Tenant(tenant.org_id, frozenset({"wf-a", "wf-bc"}))
        with pytest.raises(errors.AccessDenied, match="wf-d"):
            await services.workflows.create(scoped, diamond())
        with pytest.raises(errors.NotFound):
            await services.workflows.get(scoped, created.workflow_id)
        assert await services.workflows.list_workflows(scoped) == []
        inside = NewWorkflow("inside", (WorkflowJob("a", "wf-a"),))
        mine = await services.workflows.create(scoped, inside)
        listed = await services.workflows.list_workflows(scoped)
        assert [r["id"] for r in listed] == [mine.workflow_id]


class TestList:
    async def test_newest_first_with_status_filter_and_paging(
        self, services: Services, tenant: Tenant
    ) -> None:
        made = [
            (
                await services.workflows.create(
                    tenant, NewWorkflow(f"w{i}", (WorkflowJob("a", "ls"),))
                )
            )
            for i in range(3)
        ]
        rows = await services.workflows.list_workflows(tenant)
        assert [r["name"] for r in rows] == ["w2", "w1", "w0"]
        page = await services.workflows.list_workflows(tenant, limit=1, offset=1)
        assert [r["name"] for r in page] == ["w1"]
        await services.workflows.cancel(tenant, made[1].workflow_id)
        cancelled = await services.workflows.list_workflows(tenant, status="cancelled")
        assert [r["name"] for r in cancelled] == ["w1"]
        with pytest.raises(errors.ValidationError, match="Unknown workflow status"):
            await services.workflows.list_workflows(tenant, status="done")


class TestPlanCap:
    async def test_active_workflows_are_capped(self, services: Services, tenant: Tenant) -> None:
        one = NewWorkflow("capped", (WorkflowJob("a", "cap"),))
        first = await services.workflows.create(tenant, one, max_active=2)
        await services.workflows.create(tenant, one, max_active=2)
        with pytest.raises(errors.QuotaExceeded) as caught:
            await services.workflows.create(tenant, one, max_active=2)
        assert caught.value.extra == {
            "error": "limit_exceeded",
            "resource": "workflows",
            "current": 2,
            "limit": 2,
        }
        # A finished workflow frees its slot.
        await services.workflows.cancel(tenant, first.workflow_id)
        await services.workflows.create(tenant, one, max_active=2)


class TestQueries:
    async def test_every_workflow_query_prepares(self, pool: asyncpg.Pool) -> None:
        from spooled_queue_core.workflows.repository import Q

        async with pool.acquire() as conn:
            for name in Q.names():
                try:
                    await conn.prepare(getattr(Q, name))
                except asyncpg.PostgresError as exc:  # pragma: no cover - failure message
                    raise AssertionError(f"query {name!r} does not prepare: {exc}") from exc
