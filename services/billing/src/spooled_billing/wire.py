"""Billing models to protobuf."""

from __future__ import annotations

import orjson
from spooled_common import plans, timefmt
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb

from spooled_billing.plans.models import OrgPlan


def limits(value: plans.PlanLimits) -> pb.Limits:
    return pb.Limits(**plans.to_fields(value))


def org_plan(plan: OrgPlan) -> pb.OrgPlan:
    return pb.OrgPlan(
        organization_id=plan.organization_id,
        plan_tier=plan.plan_tier,
        custom_limits=orjson.dumps(plan.custom_limits) if plan.custom_limits else b"",
        limits=limits(plan.limits),
        stripe_customer_id=plan.stripe_customer_id,
        stripe_subscription_id=plan.stripe_subscription_id,
        stripe_subscription_status=plan.stripe_subscription_status,
        stripe_cancel_at_period_end=plan.stripe_cancel_at_period_end,
        stripe_current_period_end=timefmt.to_ts(plan.stripe_current_period_end),
        updated_at=timefmt.to_ts(plan.updated_at),
    )
