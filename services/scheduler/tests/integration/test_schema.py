"""Migrations and row-level security of the ``scheduler`` schema.

Connects as the app role (not a superuser, no BYPASSRLS), so FORCE ROW LEVEL
SECURITY applies although the role owns the tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sched_helpers import fields
from spooled_common import errors
from spooled_common.db import maintenance_tx, tenant_tx
from spooled_common.migrate import discover, migrate
from spooled_common.tenant import Tenant
from spooled_scheduler import db
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.schedules.service import ScheduleService
from spooled_testing.postgres import PostgresServer


@pytest.fixture
async def seeded(pool: asyncpg.Pool, clock: ManualClock, recording: object, tenant: Tenant) -> str:
    service = ScheduleService(pool, clock, recording)  # type: ignore[arg-type]
    row = await service.create(tenant, fields())
    await service.trigger(tenant, row["id"])
    return str(row["id"])


class TestRowLevelSecurity:
    async def test_no_org_setting_sees_nothing(self, dsn: str, seeded: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for table in ("schedules", "schedule_runs", "leader"):
                assert await conn.fetchval(f"SELECT count(*) FROM scheduler.{table}") == 0
        finally:
            await conn.close()

    async def test_other_org_sees_nothing_own_org_sees_its_rows(
        self, pool: asyncpg.Pool, seeded: str, tenant: Tenant
    ) -> None:
        async with tenant_tx(pool, "another-org") as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM scheduler.schedules WHERE id = $1", seeded
                )
                == 0
            )
        async with tenant_tx(pool, tenant.org_id) as conn:
            assert await conn.fetchval("SELECT count(*) FROM scheduler.schedules") == 1
            assert await conn.fetchval("SELECT count(*) FROM scheduler.schedule_runs") == 1

    async def test_cannot_write_rows_of_another_org(self, pool: asyncpg.Pool) -> None:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_tx(pool, "org-a") as conn:
                await conn.execute(
                    "INSERT INTO scheduler.schedules (organization_id, name, cron_expression, "
                    "queue_name) VALUES ('org-b', 'x', '* * * * * *', 'q')"
                )

    async def test_leader_row_is_maintenance_only(self, pool: asyncpg.Pool, clean: None) -> None:
        async with maintenance_tx(pool) as conn:
            await conn.execute("INSERT INTO scheduler.leader VALUES ('r', 'h', now(), now())")
        async with tenant_tx(pool, "org-a") as conn:
            assert await conn.fetchval("SELECT count(*) FROM scheduler.leader") == 0

    async def test_rls_is_forced_on_every_table(self, pool: asyncpg.Pool) -> None:
        async with maintenance_tx(pool) as conn:
            rows = await conn.fetch(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'scheduler' AND c.relkind = 'r' "
                "AND relname <> 'schema_migrations'"
            )
        assert {r["relname"] for r in rows} == {"schedules", "schedule_runs", "leader"}
        assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)


class TestMigrations:
    async def test_reapplying_is_a_no_op_and_the_sql_is_idempotent(
        self, pg_server: PostgresServer
    ) -> None:
        dsn = pg_server.create_database(f"sm_{uuid.uuid4().hex[:8]}")
        assert await migrate(dsn, db.SCHEMA, db.MIGRATIONS) == ["0001_scheduler.sql"]
        assert await migrate(dsn, db.SCHEMA, db.MIGRATIONS) == []
        # Every statement is written to survive a re-run by hand.
        conn = await asyncpg.connect(dsn)
        try:
            for mig in discover(db.MIGRATIONS):
                async with conn.transaction():
                    await conn.execute(mig.sql)
        finally:
            await conn.close()

    def test_migrate_command(self, pg_server: PostgresServer) -> None:
        dsn = pg_server.create_database(f"sm_{uuid.uuid4().hex[:8]}")
        tool = Path(sys.executable).parent / "spooled-scheduler"
        out = subprocess.run(
            [str(tool), "migrate"],
            env={**os.environ, "DATABASE_URL": dsn},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert "1 migration(s) applied" in out.stdout


async def test_check_constraints_back_the_service_rules(pool: asyncpg.Pool) -> None:
    with pytest.raises(errors.ValidationError, match="schedules_overlap_policy_valid"):
        async with tenant_tx(pool, "org-a") as conn:
            await conn.execute(
                "INSERT INTO scheduler.schedules (organization_id, name, cron_expression, "
                "queue_name, overlap_policy) VALUES ('org-a', 'x', '* * * * * *', 'q', 'nope')"
            )
