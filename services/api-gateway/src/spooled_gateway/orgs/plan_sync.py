"""An organization's plan: billing holds the truth, the gateway a read copy.

Billing owns tier, ``custom_limits`` and the Stripe subscription (schema
``billing``); every change goes there first (admin PATCH/create, Stripe
events). The gateway then writes billing's answer onto its organizations
row, which is what authentication (rate limits, caps) and the organization
views read without a round trip. A copy that missed an update (the gateway
died in between) is repaired by the next change or by Stripe's retry of the
event, since billing answers even a replayed event with the current state.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from spooled_common import db, errors, plans, sql, timefmt
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb

from spooled_gateway.auth import authenticate
from spooled_gateway.billing_client import BillingClient

Q = sql.Queries.load("spooled_gateway.db", "billing.sql")


async def set_plan(
    billing: BillingClient,
    org_id: str,
    *,
    tier: str | None = None,
    replace_custom: bool = False,
    custom: Any = None,
) -> pb.OrgPlan:
    """Change the plan in billing (400 for unknown tiers or malformed overrides)."""
    request = pb.SetOrgPlanRequest(set_custom_limits=replace_custom)
    if tier is not None:
        request.plan_tier = tier
    if replace_custom:
        stored = plans.validate_custom_limits(custom)
        request.custom_limits = orjson.dumps(stored) if stored is not None else b""
    plan: pb.OrgPlan = await billing.call(org_id, "SetOrgPlan", request)
    return plan


def custom_limits(plan: pb.OrgPlan) -> dict[str, Any] | None:
    return orjson.loads(plan.custom_limits) if plan.custom_limits else None


async def apply(pool: asyncpg.Pool, plan: pb.OrgPlan) -> asyncpg.Record | None:
    """Write billing's answer onto the gateway's copy; None for an unknown/deleted org."""
    custom = custom_limits(plan)
    async with db.tenant_tx(pool, plan.organization_id) as conn:
        row = await conn.fetchrow(
            Q.sync_org_plan,
            plan.organization_id,
            plan.plan_tier,
            orjson.dumps(custom).decode() if custom is not None else None,
            optional(plan, "stripe_customer_id"),
            optional(plan, "stripe_subscription_id"),
            optional(plan, "stripe_subscription_status"),
            timefmt.from_ts(plan, "stripe_current_period_end"),
            plan.stripe_cancel_at_period_end,
        )
    authenticate.invalidate()  # tier and overrides are part of the cached key lookups
    return row


def optional(msg: Any, field: str) -> Any:
    """An optional protobuf field's value, or None when unset."""
    return getattr(msg, field) if msg.HasField(field) else None


def not_deleted(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise errors.NotFound("Organization not found")
    return row
