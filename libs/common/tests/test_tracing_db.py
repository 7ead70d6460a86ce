"""tenant_tx hands the current trace context to Postgres (``app.traceparent``) only while on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from spooled_common import tracing
from spooled_common.db import create_pool, tenant_tx

TRACEPARENT = "NULLIF(current_setting('app.traceparent', true), '')"
SETTINGS = (
    f"SELECT current_setting('app.current_org_id', true) AS org, {TRACEPARENT} AS traceparent"
)


@pytest.fixture
async def pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(fresh_dsn, min_size=1, max_size=1)
    yield p
    await p.close()


async def test_the_current_span_is_set_for_the_transaction(
    pool: asyncpg.Pool, span_exporter: InMemorySpanExporter
) -> None:
    with tracing.tracer().start_as_current_span("request"):
        expected = tracing.traceparent()
        async with tenant_tx(pool, "org-1") as conn:
            row = await conn.fetchrow(SETTINGS)
    assert expected is not None
    assert dict(row) == {"org": "org-1", "traceparent": expected}
    # Transaction-local: the pooled connection's next user does not inherit it.
    async with pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT {TRACEPARENT}") is None


async def test_nothing_is_set_while_tracing_is_off(pool: asyncpg.Pool) -> None:
    with tracing.tracer().start_as_current_span("ignored"):
        async with tenant_tx(pool, "org-1") as conn:
            row = await conn.fetchrow(SETTINGS)
    assert dict(row) == {"org": "org-1", "traceparent": None}


async def test_outside_any_span_nothing_is_set(
    pool: asyncpg.Pool, span_exporter: InMemorySpanExporter
) -> None:
    async with tenant_tx(pool, "org-1") as conn:
        row = await conn.fetchrow(SETTINGS)
    assert row["traceparent"] is None
