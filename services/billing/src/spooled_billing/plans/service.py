"""Plan assignments: read an organization's plan and limits, change them (admin)."""

from __future__ import annotations

from typing import Any

import asyncpg
from spooled_common import errors, plans
from spooled_common.db import tenant_tx

from spooled_billing.plans import repository as repo
from spooled_billing.plans.models import OrgPlan


class PlanService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, org_id: str) -> OrgPlan:
        async with tenant_tx(self._pool, org_id) as conn:
            return await repo.get(conn, org_id)

    async def set(
        self,
        org_id: str,
        *,
        tier: str | None = None,
        replace_custom: bool = False,
        custom: Any = None,
    ) -> OrgPlan:
        """Change the tier and/or replace custom_limits (None or {} clears them)."""
        if tier is not None and tier not in plans.TIERS:
            raise errors.ValidationError(f"plan_tier must be one of {', '.join(plans.TIERS)}")
        stored = plans.validate_custom_limits(custom) if replace_custom else None
        async with tenant_tx(self._pool, org_id) as conn:
            return await repo.set_plan(
                conn, org_id, tier, replace_custom=replace_custom, custom=stored
            )
