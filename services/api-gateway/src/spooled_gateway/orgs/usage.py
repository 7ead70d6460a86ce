"""An organization's usage against its plan (``GET /organizations/usage``).

Job, queue and worker counts come from queue-core (``GetUsage``); API keys
from our own table. Schedules, workflows and outgoing webhooks are counted by
services the gateway does not reach yet: their items carry ``tracked: false``
and ``current: 0`` and never raise a warning, instead of inventing numbers.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from spooled_common import db, errors
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_gateway.core_client import CoreClient
from spooled_gateway.db import queries
from spooled_gateway.orgs import plans

#: Resources in the order upstream lists them, with the limit field of each.
RESOURCES = {
    "jobs_today": "max_jobs_per_day",
    "active_jobs": "max_active_jobs",
    "queues": "max_queues",
    "workers": "max_workers",
    "api_keys": "max_api_keys",
    "schedules": "max_schedules",
    "workflows": "max_workflows",
    "webhooks": "max_webhooks",
}
_LABELS = {"jobs_today": "Daily jobs", "active_jobs": "Active jobs", "api_keys": "API keys"}
#: Short deadline for fan-out calls (admin listing): a slow core must not stall it.
FANOUT_TIMEOUT_S = 3.0


async def core_usage(core: CoreClient, org_id: str, *, timeout: float | None = None) -> Any:
    """queue-core's counters for one org (raises 503 when queue-core is down)."""
    return await core.call(
        Tenant.from_scope(org_id, None), "GetUsage", pb.UsageRequest(), timeout=timeout
    )


async def core_usage_or_none(core: CoreClient, org_id: str) -> Any | None:
    """Like :func:`core_usage`, but None when queue-core cannot answer (admin views)."""
    try:
        return await core_usage(core, org_id, timeout=FANOUT_TIMEOUT_S)
    except errors.AppError:
        return None


async def active_key_count(pool: asyncpg.Pool, org_id: str) -> int:
    async with db.tenant_tx(pool, org_id) as conn:
        return int(await conn.fetchval(queries.count_active_keys, org_id))


def _item(current: int, limit: int | None, *, tracked: bool = True) -> dict[str, Any]:
    pct = None if not limit else round(current * 100.0 / limit, 2)
    item: dict[str, Any] = {
        "current": current,
        "limit": limit,
        "percentage": pct,
        "is_disabled": limit == 0,
    }
    if not tracked:
        item["tracked"] = False
    return item


def _warning(resource: str, item: dict[str, Any], threshold: float) -> dict[str, Any] | None:
    pct = item["percentage"]
    if pct is None or item.get("tracked") is False:
        return None
    label = _LABELS.get(resource, resource.replace("_", " ").capitalize())
    if pct >= 100:
        return {
            "resource": resource,
            "severity": "critical",
            "message": f"{label} limit reached ({item['current']}/{item['limit']})",
        }
    if pct >= threshold:
        return {
            "resource": resource,
            "severity": "warning",
            "message": f"{label} at {pct:.0f}% of the plan limit "
            f"({item['current']}/{item['limit']})",
        }
    return None


def usage_info(
    org: asyncpg.Record, usage: Any, api_keys: int, jobs_today: int | None = None
) -> dict[str, Any]:
    """The upstream ``UsageInfo`` document.

    ``jobs_today`` is billing's daily counter, the number the daily limit is
    checked against; without it (billing not answering) queue-core's count
    of jobs created today stands in.
    """
    limits = plans.limits_for(org["plan_tier"], org["custom_limits"])
    counts = {
        "jobs_today": usage.jobs_today if jobs_today is None else jobs_today,
        "active_jobs": usage.active_jobs,
        "queues": usage.queues,
        "workers": usage.workers,
        "api_keys": api_keys,
    }
    items = {
        res: _item(int(counts.get(res, 0)), getattr(limits, field), tracked=res in counts)
        for res, field in RESOURCES.items()
    }
    # Free orgs hear early (50 %); paid plans at 80 %.
    threshold = 50.0 if limits.tier == "free" else 80.0
    warnings = [w for res, item in items.items() if (w := _warning(res, item, threshold))]
    return {
        "plan": limits.tier,
        "plan_display_name": limits.display_name,
        "limits": limits.as_dict(),
        "usage": items,
        "warnings": warnings,
    }
