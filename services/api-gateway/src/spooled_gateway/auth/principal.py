"""Who is calling: the result of authenticating an API key or JWT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spooled_common import errors, plans
from spooled_common.tenant import Tenant


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str
    api_key_id: str
    #: The key's queue scope as stored (empty or ["*"] = every queue).
    queues: tuple[str, ...]
    #: "api_key" or "jwt"
    via: str
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    #: The key's own limit in requests per minute (None = plan limit only).
    rate_limit: int | None = None
    #: The org's plan tier when authenticated (free | starter | pro | enterprise).
    plan_tier: str | None = None
    #: JWT only: the token id (jti) and the login session it belongs to (sid).
    token_id: str | None = None
    session_id: str | None = None
    #: The org's per-org overrides as the gateway last heard them from billing.
    custom_limits: Any = None
    #: ``limits`` already resolved by the authenticator's cache (it sits on every request).
    resolved_limits: plans.PlanLimits | None = None

    @property
    def limits(self) -> plans.PlanLimits:
        """The org's effective limits: tier < SPOOLED_PLAN_* env < custom_limits."""
        if self.resolved_limits is not None:
            return self.resolved_limits
        return plans.limits_for(self.plan_tier or "free", self.custom_limits)

    @property
    def tenant(self) -> Tenant:
        return Tenant.from_scope(self.org_id, list(self.queues))

    @property
    def unrestricted(self) -> bool:
        return self.tenant.queues is None

    def require_queue(self, queue: str) -> None:
        """403 when the key's scope does not include ``queue`` (write paths)."""
        if not self.tenant.allows(queue):
            raise errors.AccessDenied(f"API key does not have permission for queue '{queue}'")

    def require_unrestricted(self) -> None:
        if not self.unrestricted:
            raise errors.AccessDenied("This operation requires an unrestricted API key")
