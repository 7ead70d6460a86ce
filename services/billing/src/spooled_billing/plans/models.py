"""An organization's plan assignment as billing stores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from spooled_common import plans


@dataclass(frozen=True, slots=True)
class OrgPlan:
    organization_id: str
    plan_tier: str = "free"
    #: The stored overrides (a JSON object) or None.
    custom_limits: dict[str, Any] | None = None
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    stripe_subscription_status: str | None = None
    stripe_current_period_end: datetime | None = None
    stripe_cancel_at_period_end: bool = False
    updated_at: datetime | None = None

    @classmethod
    def default(cls, org_id: str) -> OrgPlan:
        """An organization billing has never heard of: free, no overrides."""
        return cls(org_id)

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> OrgPlan:
        custom = row["custom_limits"]
        return cls(
            organization_id=row["organization_id"],
            plan_tier=row["plan_tier"],
            custom_limits=orjson.loads(custom) if custom else None,
            stripe_customer_id=row["stripe_customer_id"],
            stripe_subscription_id=row["stripe_subscription_id"],
            stripe_subscription_status=row["stripe_subscription_status"],
            stripe_current_period_end=row["stripe_current_period_end"],
            stripe_cancel_at_period_end=row["stripe_cancel_at_period_end"],
            updated_at=row["updated_at"],
        )

    @property
    def limits(self) -> plans.PlanLimits:
        """Tier < SPOOLED_PLAN_* environment < custom_limits."""
        return plans.limits_for(self.plan_tier, self.custom_limits)
