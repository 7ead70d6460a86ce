"""SQL for plan assignments (queries in db/queries.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from spooled_billing.db import QUERIES as Q
from spooled_billing.plans.models import OrgPlan


async def get(conn: asyncpg.Connection, org_id: str) -> OrgPlan:
    row = await conn.fetchrow(Q.get_org_plan, org_id)
    return OrgPlan.from_row(row) if row is not None else OrgPlan.default(org_id)


async def set_plan(
    conn: asyncpg.Connection,
    org_id: str,
    tier: str | None,
    *,
    replace_custom: bool,
    custom: dict[str, Any] | None,
) -> OrgPlan:
    doc = orjson.dumps(custom).decode() if custom is not None else None
    row = await conn.fetchrow(Q.set_org_plan, org_id, tier, replace_custom, doc)
    return OrgPlan.from_row(row)


async def org_by_customer(conn: asyncpg.Connection, customer_id: str) -> str | None:
    return await conn.fetchval(Q.org_by_stripe_customer, customer_id)  # type: ignore[no-any-return]


async def apply_subscription(
    conn: asyncpg.Connection,
    org_id: str,
    *,
    tier: str | None,
    customer: str | None,
    subscription: str | None,
    status: str | None,
    period_end: datetime | None,
    cancel_at_period_end: bool | None,
    event_at: datetime | None,
) -> bool:
    """Apply one subscription state; False when a newer event was already applied."""
    row = await conn.fetchval(
        Q.apply_subscription,
        org_id,
        tier,
        customer,
        subscription,
        status,
        period_end,
        cancel_at_period_end,
        event_at,
    )
    return row is not None
