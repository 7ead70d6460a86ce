"""The billing schema: migrations re-run cleanly and row-level security is really on."""

from __future__ import annotations

import asyncpg
import pytest
from spooled_billing import db
from spooled_common.db import tenant_tx
from spooled_common.migrate import migrate


async def test_migrations_apply_once(fresh_dsn: str) -> None:
    assert await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS) == ["0001_billing.sql"]
    assert await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS) == []


async def test_rls_is_forced_on_every_table(fresh_dsn: str) -> None:
    await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        rows = await conn.fetch(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'billing' AND relkind = 'r' AND relname <> 'schema_migrations'"
        )
        assert {r["relname"] for r in rows} == {"org_plans", "daily_usage", "stripe_events"}
        assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)
    finally:
        await conn.close()


async def test_one_org_never_sees_another(fresh_dsn: str) -> None:
    await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with tenant_tx(pool, "org-a") as conn:
            await conn.execute(db.QUERIES.set_org_plan, "org-a", "pro", False, None)
        async with tenant_tx(pool, "org-b") as conn:
            assert await conn.fetchval("SELECT count(*) FROM billing.org_plans") == 0
            # Writing another org's row is refused by the policy's WITH CHECK.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(db.QUERIES.set_org_plan, "org-a", "free", False, None)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM billing.org_plans") == 0
    finally:
        await pool.close()
