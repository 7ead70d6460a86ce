"""The plan table and the one way to compute an organization's effective limits.

Every service that checks a limit (gateway, billing, queue-core) computes it
here, so the gateway's rate limit, queue-core's active-jobs check and billing's
daily counter always agree on what "the free plan" means.

Precedence, lowest to highest (API.md §14.1)::

    built-in table (PLANS)
      < SPOOLED_PLAN_LIMITS_JSON           {"free": {...}, "pro": {...}}
      < SPOOLED_PLAN_<TIER>_LIMITS_JSON    {...} for one tier
      < SPOOLED_PLAN_<TIER>_<FIELD>        one value; caps accept unlimited|none|null|-1
      < the organization's custom_limits   JSON object; null on a cap = unlimited

``None`` means unlimited. ``0`` on ``max_workflows`` means the feature is off.
The environment is read by :func:`current` (cheap, re-read when it changes);
a malformed override raises :class:`PlanConfigError`, which services turn into
a startup failure through :func:`validate_environment`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from spooled_common import errors

#: Tiers in upgrade order; ``upgrade_to`` is the next one.
TIERS = ("free", "starter", "pro", "enterprise")
ENV_PREFIX = "SPOOLED_PLAN_"
ALL_TIERS_JSON = "SPOOLED_PLAN_LIMITS_JSON"

#: Caps that may be unlimited (None); JSON null / "unlimited" mean that.
OPTIONAL_CAPS = (
    "max_jobs_per_day",
    "max_active_jobs",
    "max_queues",
    "max_workers",
    "max_api_keys",
    "max_schedules",
    "max_workflows",
    "max_webhooks",
)
#: Numbers every plan has.
REQUIRED_NUMBERS = (
    "max_payload_size_bytes",
    "rate_limit_requests_per_second",
    "rate_limit_burst",
    "job_retention_days",
    "history_retention_days",
)
#: ``SPOOLED_PLAN_<TIER>_<SUFFIX>`` → field (the short upstream names, plus the long ones).
_ENV_FIELDS = {
    **{name.upper(): name for name in (*OPTIONAL_CAPS, *REQUIRED_NUMBERS)},
    "RATE_LIMIT_RPS": "rate_limit_requests_per_second",
}
_UNLIMITED = {"unlimited", "none", "null", "-1"}


class PlanConfigError(ValueError):
    """A SPOOLED_PLAN_* environment variable does not parse."""


@dataclass(frozen=True, slots=True)
class PlanLimits:
    tier: str
    display_name: str
    max_jobs_per_day: int | None
    #: pending + processing + scheduled jobs
    max_active_jobs: int | None
    #: distinct queue names (jobs or configuration)
    max_queues: int | None
    #: healthy + degraded workers
    max_workers: int | None
    #: active keys
    max_api_keys: int | None
    #: active schedules
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


def _plan(tier: str, caps: tuple[int | None, ...], numbers: tuple[int, ...]) -> PlanLimits:
    fields: dict[str, Any] = {
        **dict(zip(OPTIONAL_CAPS, caps, strict=True)),
        **dict(zip(REQUIRED_NUMBERS, numbers, strict=True)),
    }
    return PlanLimits(tier, tier.capitalize(), **fields)


#: The built-in table (API.md §14.1): jobs/day, active, queues, workers, keys,
#: schedules, workflows, webhooks | payload bytes, rps, burst, retention days.
PLANS: dict[str, PlanLimits] = {
    "free": _plan("free", (1_000, 10, 2, 1, 2, 1, 0, 1), (65_536, 5, 10, 3, 1)),
    "starter": _plan("starter", (10_000, 500, 10, 5, 5, 10, 5, 5), (262_144, 25, 50, 14, 7)),
    "pro": _plan("pro", (100_000, 5_000, 50, 25, 25, 50, 25, 20), (1_048_576, 100, 200, 30, 30)),
    "enterprise": _plan("enterprise", (None,) * 8, (5_242_880, 500, 1_000, 90, 90)),
}


# -- the environment -------------------------------------------------------------------
def _parse_json(name: str, raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanConfigError(f"{name} is not valid JSON: {exc}") from None


def _env_value(name: str, field: str, raw: str) -> int | None:
    text = raw.strip().lower()
    if text in _UNLIMITED:
        if field not in OPTIONAL_CAPS:
            raise PlanConfigError(f"{name}: {field} cannot be unlimited")
        return None
    try:
        value = int(text)
    except ValueError:
        raise PlanConfigError(f"{name} must be an integer or 'unlimited', got {raw!r}") from None
    if value < 0:
        raise PlanConfigError(f"{name} must not be negative")
    return value


def _object_changes(source: str, doc: Any, *, strict: bool) -> dict[str, Any]:
    """Field changes from a limits object; ``strict`` raises on bad entries."""
    if not isinstance(doc, Mapping):
        if strict:
            raise PlanConfigError(f"{source} must be a JSON object")
        return {}
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        problem = _value_problem(key, value)
        if problem is None:
            changes[key] = value
        elif strict:
            raise PlanConfigError(f"{source}: {problem}")
    return changes


def _value_problem(key: str, value: Any) -> str | None:
    if key == "display_name":
        return None if isinstance(value, str) and value else "display_name must be a string"
    if key not in OPTIONAL_CAPS and key not in REQUIRED_NUMBERS:
        return f"unknown limit {key!r}"
    if value is None and key in OPTIONAL_CAPS:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return f"{key} must be a non-negative integer" + (" or null" if key in OPTIONAL_CAPS else "")


def load(env: Mapping[str, str]) -> dict[str, PlanLimits]:
    """The plan table with every environment override applied (see the module docstring)."""
    table = dict(PLANS)
    if raw := env.get(ALL_TIERS_JSON):
        doc = _parse_json(ALL_TIERS_JSON, raw)
        if not isinstance(doc, Mapping):
            raise PlanConfigError(f"{ALL_TIERS_JSON} must be an object keyed by tier")
        for tier, limits in doc.items():
            if tier not in table:
                raise PlanConfigError(f"{ALL_TIERS_JSON}: unknown tier {tier!r}")
            changes = _object_changes(f"{ALL_TIERS_JSON}.{tier}", limits, strict=True)
            table[tier] = dataclasses.replace(table[tier], **changes)
    for tier in TIERS:
        name = f"{ENV_PREFIX}{tier.upper()}_LIMITS_JSON"
        if raw := env.get(name):
            changes = _object_changes(name, _parse_json(name, raw), strict=True)
            table[tier] = dataclasses.replace(table[tier], **changes)
    for tier in TIERS:
        prefix = f"{ENV_PREFIX}{tier.upper()}_"
        changes = {}
        for suffix, field in _ENV_FIELDS.items():
            if (raw := env.get(prefix + suffix)) is not None:
                changes[field] = _env_value(prefix + suffix, field, raw)
        if changes:
            table[tier] = dataclasses.replace(table[tier], **changes)
    return table


@functools.lru_cache(maxsize=8)
def _load_cached(items: tuple[tuple[str, str], ...]) -> dict[str, PlanLimits]:
    return load(dict(items))


def current(env: Mapping[str, str] | None = None) -> dict[str, PlanLimits]:
    """The effective plan table for this process's environment (cached per environment)."""
    source = os.environ if env is None else env
    items = tuple(sorted((k, v) for k, v in source.items() if k.startswith(ENV_PREFIX)))
    return _load_cached(items)


def validate_environment() -> None:
    """Fail fast at startup: SystemExit naming the bad SPOOLED_PLAN_* variable."""
    try:
        current()
    except PlanConfigError as exc:
        raise SystemExit(f"invalid plan configuration: {exc}") from None


# -- one organization ----------------------------------------------------------------
def limits_for(tier: str, custom_limits: Any = None) -> PlanLimits:
    """The effective limits of an org: its tier's row, then its own ``custom_limits``.

    Unknown tiers fall back to free. In ``custom_limits`` a JSON null on an
    optional cap means unlimited; values of the wrong type are ignored rather
    than breaking every request of that org (they are refused when set, by
    :func:`validate_custom_limits`).
    """
    table = current()
    base = table.get(tier, table["free"])
    if isinstance(custom_limits, (bytes, str)):
        try:
            custom_limits = orjson.loads(custom_limits)
        except orjson.JSONDecodeError:
            return base
    if not isinstance(custom_limits, Mapping) or not custom_limits:
        return base
    changes = _object_changes("custom_limits", custom_limits, strict=False)
    changes.pop("display_name", None)
    return dataclasses.replace(base, **changes) if changes else base


def validate_custom_limits(doc: Any) -> dict[str, Any] | None:
    """A per-org ``custom_limits`` object as it may be stored; ValidationError otherwise.

    None or ``{}`` clear the overrides (returns None).
    """
    if doc is None or doc == {}:
        return None
    if not isinstance(doc, Mapping):
        raise errors.ValidationError("custom_limits must be an object or null")
    for key, value in doc.items():
        problem = _value_problem(key, value)
        if problem is None and key == "display_name":
            problem = "display_name cannot be overridden per organization"
        if problem is not None:
            raise errors.ValidationError(f"custom_limits: {problem}")
    return dict(doc)


def upgrade_to(tier: str) -> str | None:
    """The next tier up, or None at the top."""
    tier = tier if tier in TIERS else "free"
    idx = TIERS.index(tier)
    return TIERS[idx + 1] if idx + 1 < len(TIERS) else None


def all_plans() -> list[dict[str, Any]]:
    """Every tier's effective limits, in upgrade order (``GET /admin/plans``)."""
    table = current()
    return [table[t].as_dict() for t in TIERS]


def exceeds(limit: int | None, current: int, adding: int = 1) -> bool:
    """The upstream check: ``current + adding > limit`` (never for unlimited)."""
    return limit is not None and current + adding > limit


# -- crossing internal gRPC ---------------------------------------------------------
def to_fields(limits: PlanLimits) -> dict[str, Any]:
    """Keyword arguments for a protobuf ``Limits`` message (unlimited caps left unset)."""
    return {k: v for k, v in limits.as_dict().items() if v is not None}


def from_message(msg: Any) -> PlanLimits:
    """Rebuild limits from a protobuf ``Limits`` message (an unset cap is unlimited)."""
    fields: dict[str, Any] = {
        k: (int(getattr(msg, k)) if msg.HasField(k) else None) for k in OPTIONAL_CAPS
    }
    fields.update({k: int(getattr(msg, k)) for k in REQUIRED_NUMBERS})
    return PlanLimits(tier=msg.tier, display_name=msg.display_name, **fields)


# -- error bodies (API.md §1.3) -------------------------------------------------------
def quota_exceeded(resource: str, current: int, limit: int, plan: str) -> errors.QuotaExceeded:
    """429 ``QUOTA_EXCEEDED`` with ``error: limit_exceeded`` and resource/current/limit/plan.

    The message always contains "limit reached": the SDK classifies a gRPC
    RESOURCE_EXHAUSTED as a quota (not a rate limit) by that text.
    """
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


def feature_disabled(feature: str, plan: str) -> errors.FeatureDisabled:
    """403 ``FEATURE_DISABLED`` (e.g. workflows on the free plan)."""
    display = current().get(plan, PLANS["free"]).display_name
    extra: dict[str, Any] = {"error": "feature_disabled", "feature": feature, "plan": plan}
    if (nxt := upgrade_to(plan)) is not None:
        extra["upgrade_to"] = nxt
    return errors.FeatureDisabled(
        f"{feature} is not available on the {display} plan. Upgrade to unlock this feature.",
        extra=extra,
    )


def payload_too_large(size: int, limit: int, plan: str) -> errors.PayloadTooLarge:
    """413 for a job payload over the plan's ``max_payload_size_bytes``."""
    return errors.PayloadTooLarge(
        f"Payload size ({size} bytes) exceeds plan limit ({limit} bytes). "
        "Upgrade for larger payloads.",
        extra={
            "error": "payload_too_large",
            "current": size,
            "limit": limit,
            "plan": plan,
            "upgrade_to": upgrade_to(plan) is not None,
        },
    )
