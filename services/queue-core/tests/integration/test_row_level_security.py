"""Row-level security really isolates tenants, even for a query with no org filter.

Connects as the app role directly (not a superuser, no BYPASSRLS), so FORCE
ROW LEVEL SECURITY applies although the role owns the tables.
"""

from __future__ import annotations

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.db import maintenance_tx, tenant_tx
from spooled_common.tenant import Tenant
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.jobs.models import NewJob


@pytest.fixture
async def seeded(services: Services, tenant: Tenant) -> Tenant:
    await services.jobs.create(tenant, NewJob("rls-q", '{"secret": 1}'))
    await services.queues.pause(tenant, "rls-q")
    return tenant


class TestRowLevelSecurity:
    async def test_no_org_setting_sees_nothing(self, core_dsn: str, seeded: Tenant) -> None:
        conn = await asyncpg.connect(core_dsn)
        try:
            for table in ("jobs", "job_history", "queue_config", "outbox"):
                count = await conn.fetchval(f"SELECT count(*) FROM core.{table}")
                assert count == 0, table
        finally:
            await conn.close()

    async def test_other_org_setting_sees_nothing(self, pool: asyncpg.Pool, seeded: Tenant) -> None:
        async with tenant_tx(pool, "some-other-org") as conn:
            assert await conn.fetchval("SELECT count(*) FROM core.jobs") == 0
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM core.jobs WHERE organization_id = $1", seeded.org_id
                )
                == 0
            )

    async def test_own_org_sees_its_rows(self, pool: asyncpg.Pool, seeded: Tenant) -> None:
        async with tenant_tx(pool, seeded.org_id) as conn:
            assert await conn.fetchval("SELECT count(*) FROM core.jobs") == 1
            assert await conn.fetchval("SELECT count(*) FROM core.outbox") == 2

    async def test_cannot_write_rows_of_another_org(
        self, pool: asyncpg.Pool, seeded: Tenant
    ) -> None:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_tx(pool, seeded.org_id) as conn:
                await conn.execute(
                    "INSERT INTO core.jobs (organization_id, queue_name, payload) "
                    "VALUES ('intruder', 'q', '{}')"
                )

    async def test_cannot_update_another_orgs_rows(
        self, pool: asyncpg.Pool, seeded: Tenant
    ) -> None:
        async with tenant_tx(pool, "intruder") as conn:
            status = await conn.execute("UPDATE core.jobs SET priority = 5")
        assert status == "UPDATE 0"

    async def test_maintenance_sees_every_tenant(self, pool: asyncpg.Pool, seeded: Tenant) -> None:
        async with maintenance_tx(pool) as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM core.jobs WHERE organization_id = $1", seeded.org_id
            )
        assert count == 1

    async def test_setting_does_not_leak_past_the_transaction(
        self, pool: asyncpg.Pool, seeded: Tenant
    ) -> None:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('app.current_org_id', $1, true)", seeded.org_id
                )
            assert await conn.fetchval("SELECT count(*) FROM core.jobs") == 0

    async def test_tenant_tx_requires_an_org(self, pool: asyncpg.Pool) -> None:
        with pytest.raises(errors.Unauthorized):
            async with tenant_tx(pool, ""):
                pass
