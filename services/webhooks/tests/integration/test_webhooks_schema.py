"""The ``webhooks`` schema: migrations replay cleanly, row-level security is really on."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from spooled_common.db import maintenance_tx, tenant_tx
from spooled_common.migrate import migrate
from spooled_testing.postgres import PostgresServer
from spooled_webhooks import db

TABLES = ("endpoints", "deliveries", "delivery_attempts", "inbound_deliveries", "outbox")


async def test_migrations_apply_once_and_replay_as_no_ops(pg_server: PostgresServer) -> None:
    dsn = pg_server.create_database(f"whm_{uuid.uuid4().hex[:8]}")
    assert await migrate(dsn, db.SCHEMA, db.MIGRATIONS) == [
        "0001_webhooks.sql",
        "0002_trace_context.sql",
    ]
    assert await migrate(dsn, db.SCHEMA, db.MIGRATIONS) == []


async def test_every_table_forces_row_level_security(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relnamespace = 'webhooks'::regnamespace AND relkind = 'r' "
            "AND relname <> 'schema_migrations'"
        )
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    assert {r["relname"] for r in rows} == set(TABLES)
    assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)
    assert not role["rolsuper"] and not role["rolbypassrls"]


async def test_rows_are_visible_to_their_org_only(pool: asyncpg.Pool) -> None:
    a, b = f"org-{uuid.uuid4()}", f"org-{uuid.uuid4()}"
    async with tenant_tx(pool, a) as conn:
        await conn.execute(
            "INSERT INTO webhooks.endpoints (organization_id, name, url, events) "
            "VALUES ($1, 'n', 'https://example.com', ARRAY['job.created'])",
            a,
        )
    async with tenant_tx(pool, b) as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhooks.endpoints") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO webhooks.endpoints (organization_id, name, url, events) "
                "VALUES ($1, 'n', 'https://example.com', ARRAY['job.created'])",
                a,
            )
    async with pool.acquire() as conn:  # no tenant, no maintenance: nothing at all
        assert await conn.fetchval("SELECT count(*) FROM webhooks.endpoints") == 0
    async with maintenance_tx(pool) as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM webhooks.endpoints WHERE organization_id = $1", a
            )
            == 1
        )


async def test_constraints_guard_the_invariants(pool: asyncpg.Pool) -> None:
    org = f"org-{uuid.uuid4()}"
    async with tenant_tx(pool, org) as conn:
        for events in ("ARRAY['job.exploded']", "ARRAY[]::text[]"):
            with pytest.raises(asyncpg.CheckViolationError):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO webhooks.endpoints (organization_id, name, url, events) "
                        f"VALUES ($1, 'n', 'https://example.com', {events})",
                        org,
                    )
        with pytest.raises(asyncpg.CheckViolationError):  # neither an endpoint nor a URL
            await conn.execute(
                "INSERT INTO webhooks.deliveries (id, organization_id, event, event_key, payload) "
                "VALUES ('d1', $1, 'job.created', 'k', '{}')",
                org,
            )


async def test_retention_sweep_removes_old_rows_only(pool: asyncpg.Pool) -> None:
    from spooled_webhooks.deliveries import retention

    org = f"org-{uuid.uuid4()}"
    async with tenant_tx(pool, org) as conn:
        for i, age in enumerate(("40 days", "1 day")):
            await conn.execute(
                "INSERT INTO webhooks.deliveries (id, organization_id, event, event_key, url, "
                "payload, created_at) VALUES ($1, $2, 'job.completed', 'k', 'https://e.com', "
                f"'{{}}', now() - interval '{age}')",
                f"{org}-d{i}",
                org,
            )
            await conn.execute(
                "INSERT INTO webhooks.inbound_deliveries (organization_id, provider, event_type, "
                f"status, created_at) VALUES ($1, 'custom', 'x', 'created', now() - interval '{age}')",
                org,
            )
            await conn.execute(
                "INSERT INTO webhooks.outbox (organization_id, event_type, payload, published_at) "
                f"VALUES ($1, 'webhook.disabled', '{{}}', now() - interval '{age}')",
                org,
            )
    assert await retention.sweep(pool, 30 * 86400) >= 3
    async with tenant_tx(pool, org) as conn:
        assert await conn.fetchval("SELECT array_agg(id) FROM webhooks.deliveries") == [f"{org}-d1"]
        assert await conn.fetchval("SELECT count(*) FROM webhooks.inbound_deliveries") == 1
        assert await conn.fetchval("SELECT count(*) FROM webhooks.outbox") == 0
