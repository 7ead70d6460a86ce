"""The plan table: what each tier may use (API.md §14.1), as data.

The gateway reads it for ``/admin/plans``, the ``limits`` of the usage
endpoint and the API-key cap. The billing service is meant to take it over;
until then this module is the single copy.

``None`` means unlimited. ``0`` on ``max_workflows`` means the feature is off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from spooled_common import errors

#: Tiers in upgrade order; ``upgrade_to`` is the next one.
TIERS = ("free", "starter", "pro", "enterprise")

#: Limits a per-org ``custom_limits`` object may override, and whether JSON
#: null means "unlimited" for them (only the optional caps).
_OPTIONAL_CAPS = (
    "max_jobs_per_day",
    "max_active_jobs",
    "max_queues",
    "max_workers",
    "max_api_keys",
    "max_schedules",
    "max_workflows",
    "max_webhooks",
)
_REQUIRED_NUMBERS = (
    "max_payload_size_bytes",
    "rate_limit_requests_per_second",
    "rate_limit_burst",
    "job_retention_days",
    "history_retention_days",
)


@dataclass(frozen=True, slots=True)
class PlanLimits:
    tier: str
    display_name: str
    max_jobs_per_day: int | None
    #: pending + processing + scheduled jobs
    max_active_jobs: int | None
    max_queues: int | None
    #: healthy + degraded workers
    max_workers: int | None
    #: active keys
    max_api_keys: int | None
    max_schedules: int | None
    max_workflows: int | None
    #: enabled outgoing webhooks
    max_webhooks: int | None
    max_payload_size_bytes: int
    rate_limit_requests_per_second: int
    rate_limit_burst: int
    job_retention_days: int
    history_retention_days: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(
        tier="free",
        display_name="Free",
        max_jobs_per_day=1_000,
        max_active_jobs=10,
        max_queues=2,
        max_workers=1,
        max_api_keys=2,
        max_schedules=1,
        max_workflows=0,
        max_webhooks=1,
        max_payload_size_bytes=65_536,
        rate_limit_requests_per_second=5,
        rate_limit_burst=10,
        job_retention_days=3,
        history_retention_days=1,
    ),
    "starter": PlanLimits(
        tier="starter",
        display_name="Starter",
        max_jobs_per_day=10_000,
        max_active_jobs=500,
        max_queues=10,
        max_workers=5,
        max_api_keys=5,
        max_schedules=10,
        max_workflows=5,
        max_webhooks=5,
        max_payload_size_bytes=262_144,
        rate_limit_requests_per_second=25,
        rate_limit_burst=50,
        job_retention_days=14,
        history_retention_days=7,
    ),
    "pro": PlanLimits(
        tier="pro",
        display_name="Pro",
        max_jobs_per_day=100_000,
        max_active_jobs=5_000,
        max_queues=50,
        max_workers=25,
        max_api_keys=25,
        max_schedules=50,
        max_workflows=25,
        max_webhooks=20,
        max_payload_size_bytes=1_048_576,
        rate_limit_requests_per_second=100,
        rate_limit_burst=200,
        job_retention_days=30,
        history_retention_days=30,
    ),
    "enterprise": PlanLimits(
        tier="enterprise",
        display_name="Enterprise",
        max_jobs_per_day=None,
        max_active_jobs=None,
        max_queues=None,
        max_workers=None,
        max_api_keys=None,
        max_schedules=None,
        max_workflows=None,
        max_webhooks=None,
        max_payload_size_bytes=5_242_880,
        rate_limit_requests_per_second=500,
        rate_limit_burst=1_000,
        job_retention_days=90,
        history_retention_days=90,
    ),
}


def upgrade_to(tier: str) -> str | None:
    """The next tier up, or None at the top (or for an unknown tier's top)."""
    tier = tier if tier in PLANS else "free"
    idx = TIERS.index(tier)
    return TIERS[idx + 1] if idx + 1 < len(TIERS) else None


def limits_for(tier: str, custom_limits: Any = None) -> PlanLimits:
    """The effective limits of an org: its tier's row, then its own overrides.

    Unknown tiers fall back to free. In ``custom_limits`` a JSON null on an
    optional cap means unlimited; values of the wrong type are ignored rather
    than breaking every request of that org.
    """
    base = PLANS.get(tier, PLANS["free"])
    if not isinstance(custom_limits, dict) or not custom_limits:
        return base
    changes: dict[str, Any] = {}
    for key in _OPTIONAL_CAPS:
        if key in custom_limits:
            value = custom_limits[key]
            if value is None or _is_count(value):
                changes[key] = value
    for key in _REQUIRED_NUMBERS:
        value = custom_limits.get(key)
        if _is_count(value):
            changes[key] = value
    return dataclasses.replace(base, **changes)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def all_plans() -> list[dict[str, Any]]:
    return [PLANS[t].as_dict() for t in TIERS]


def quota_exceeded(resource: str, current: int, limit: int, plan: str) -> errors.QuotaExceeded:
    """The upstream plan-limit error: 429 ``QUOTA_EXCEEDED`` with resource/limit/plan fields."""
    nxt = upgrade_to(plan)
    message = f"{resource.replace('_', ' ')} limit reached ({current}/{limit})."
    extra: dict[str, Any] = {
        "error": "limit_exceeded",
        "resource": resource,
        "current": current,
        "limit": limit,
        "plan": plan,
    }
    if nxt is not None:
        message += f" Upgrade to {nxt} for higher limits."
        extra["upgrade_to"] = nxt
    return errors.QuotaExceeded(message, extra=extra)
