from __future__ import annotations

from importlib import resources

import asyncpg
import pytest
from spooled_common.migrate import migrate
from spooled_queue_core import db

TENANT_TABLES = {
    "jobs",
    "queue_config",
    "workers",
    "job_history",
    "dead_letter_queue",
    "outbox",
    "workflows",
    "job_dependencies",
}


class TestMigrate:
    async def test_applies_once_then_is_a_no_op(self, fresh_dsn: str) -> None:
        first = await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
        second = await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
        assert first == [
            "0001_core.sql",
            "0002_workflows.sql",
            "0003_plan_limits.sql",
            "0004_trace_context.sql",
            "0005_table_upkeep.sql",
        ]
        assert second == []

    @pytest.mark.parametrize(
        "name",
        [
            "0001_core.sql",
            "0002_workflows.sql",
            "0003_plan_limits.sql",
            "0004_trace_context.sql",
            "0005_table_upkeep.sql",
        ],
    )
    async def test_migration_sql_itself_is_rerunnable(self, core_dsn: str, name: str) -> None:
        # Re-running the file by hand (e.g. after a partial failure) must not break.
        text = resources.files(db.MIGRATIONS).joinpath(name).read_text()
        conn = await asyncpg.connect(core_dsn)
        try:
            async with conn.transaction():
                await conn.execute(text)
        finally:
            await conn.close()

    async def test_rls_is_enabled_and_forced_on_every_tenant_table(self, core_dsn: str) -> None:
        conn = await asyncpg.connect(core_dsn)
        try:
            rows = await conn.fetch(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'core' AND c.relkind = 'r'"
            )
            is_super = await conn.fetchval(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        finally:
            await conn.close()
        flags = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
        assert {t: flags[t] for t in TENANT_TABLES} == {t: (True, True) for t in TENANT_TABLES}
        assert is_super is False


class TestQueries:
    async def test_every_named_query_prepares(self, pool: asyncpg.Pool) -> None:
        from spooled_queue_core.jobs.repository import history_query, list_query

        texts = {name: getattr(db.QUERIES, name) for name in db.QUERIES.names()}
        texts["list_jobs"] = list_query("priority", "asc")
        texts["job_history"] = history_query("desc")
        async with pool.acquire() as conn:
            for name, text in texts.items():
                try:
                    await conn.prepare(text)
                except asyncpg.PostgresError as exc:  # pragma: no cover - failure message
                    raise AssertionError(f"query {name!r} does not prepare: {exc}") from exc
