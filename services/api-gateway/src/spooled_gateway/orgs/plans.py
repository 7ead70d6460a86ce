"""The plan table, as the gateway's routes import it.

The single implementation lives in :mod:`spooled_common.plans` (billing and
queue-core compute limits with the same code and the same SPOOLED_PLAN_*
environment); this module only re-exports it under its historical name.
"""

from __future__ import annotations

from spooled_common.plans import (
    PLANS,
    TIERS,
    PlanLimits,
    all_plans,
    exceeds,
    feature_disabled,
    limits_for,
    payload_too_large,
    quota_exceeded,
    upgrade_to,
    validate_custom_limits,
)

__all__ = [
    "PLANS",
    "TIERS",
    "PlanLimits",
    "all_plans",
    "exceeds",
    "feature_disabled",
    "limits_for",
    "payload_too_large",
    "quota_exceeded",
    "upgrade_to",
    "validate_custom_limits",
]
