"""tenant_tx / maintenance_tx against a real Postgres: the setting, commit, rollback, odd org ids."""

from __future__ import annotations

import asyncpg
import pytest
from spooled_common import errors
from spooled_common.db import create_pool, maintenance_tx, tenant_tx


@pytest.mark.parametrize("org", ["org-1", "it's", "back\\slash", "E'x'); DROP TABLE t; --"])
async def test_tenant_tx_sets_the_org_verbatim_and_commits(fresh_dsn: str, org: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (org text)")
        async with tenant_tx(pool, org) as conn:
            assert await conn.fetchval("SELECT current_setting('app.current_org_id')") == org
            await conn.execute("INSERT INTO t VALUES (current_setting('app.current_org_id'))")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT org FROM t") == org
            # Transaction-local: nothing leaks onto the pooled connection.
            assert await conn.fetchval("SELECT current_setting('app.current_org_id', true)") in (
                None,
                "",
            )
    finally:
        await pool.close()


async def test_an_error_rolls_back(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (n int)")
        with pytest.raises(RuntimeError):
            async with tenant_tx(pool, "org") as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("boom")
        with pytest.raises(errors.ValidationError):
            async with maintenance_tx(pool) as conn:
                await conn.execute("INSERT INTO t VALUES (2)")
                await conn.execute("INSERT INTO t VALUES ('x')")
        async with maintenance_tx(pool) as conn:
            assert await conn.fetchval("SELECT current_setting('app.maintenance')") == "on"
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await pool.close()


async def test_missing_or_nul_org_is_refused(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=1, max_size=1)
    try:
        for bad in ("", "a\x00b"):
            with pytest.raises(errors.Unauthorized):
                async with tenant_tx(pool, bad):
                    pass
    finally:
        await pool.close()


async def test_savepoints_nest_inside(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (n int CHECK (n > 0))")
        async with tenant_tx(pool, "org") as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(asyncpg.CheckViolationError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO t VALUES (-1)")
            await conn.execute("INSERT INTO t VALUES (2)")
            assert await conn.fetchval("SELECT current_setting('app.current_org_id')") == "org"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT sum(n) FROM t") == 3
    finally:
        await pool.close()


async def test_a_plain_asyncpg_pool_works_too(fresh_dsn: str) -> None:
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=1)
    try:
        async with tenant_tx(pool, "org-x") as conn:
            assert await conn.fetchval("SELECT current_setting('app.current_org_id')") == "org-x"
    finally:
        await pool.close()


async def test_begin_carries_the_setting_in_the_same_message(fresh_dsn: str) -> None:
    from spooled_common.db import _Connection

    conn = await asyncpg.connect(fresh_dsn, connection_class=_Connection)
    try:
        conn.begin_with("SELECT set_config('app.current_org_id', 'org-b', true)")
        await conn.execute("BEGIN;")  # what asyncpg's transaction sends
        assert await conn.fetchval("SELECT current_setting('app.current_org_id')") == "org-b"
        await conn.execute("COMMIT;")
        # Consumed: the next BEGIN is a plain one.
        await conn.execute("BEGIN;")
        assert await conn.fetchval("SELECT current_setting('app.current_org_id', true)") in (
            "",
            None,
        )
        await conn.execute("ROLLBACK;")
    finally:
        await conn.close()
