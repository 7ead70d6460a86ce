"""Operator views across every organization (``/admin``, API.md §11.3).

All reads here are cross-tenant, so they run in ``db.maintenance_tx``. Usage
numbers come from queue-core per org; where queue-core cannot answer, the
listing shows ``null`` rather than a made-up zero.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import asyncpg
from spooled_common import db, errors
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb

from spooled_gateway.auth import authenticate
from spooled_gateway.billing_client import BillingClient
from spooled_gateway.core_client import CoreClient
from spooled_gateway.db import queries
from spooled_gateway.orgs import plan_sync, service, usage

SortBy = Literal["created_at", "name", "slug", "plan_tier", "updated_at"]
SortOrder = Literal["asc", "desc"]
#: Concurrent GetUsage calls when fanning out over many orgs.
FANOUT = 16


def _like_pattern(search: str | None) -> str | None:
    if not search:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _gather_usage(core: CoreClient, org_ids: list[str], *, strict: bool) -> list[Any]:
    gate = asyncio.Semaphore(FANOUT)

    async def one(org_id: str) -> Any:
        async with gate:
            if strict:
                return await usage.core_usage(core, org_id, timeout=usage.FANOUT_TIMEOUT_S)
            return await usage.core_usage_or_none(core, org_id)

    return list(await asyncio.gather(*(one(o) for o in org_ids)))


async def list_orgs(
    pool: asyncpg.Pool,
    core: CoreClient,
    *,
    plan_tier: str | None,
    search: str | None,
    limit: int,
    offset: int,
    sort_by: SortBy,
    sort_order: SortOrder,
    billing: BillingClient | None = None,
) -> dict[str, Any]:
    # Both parts come from closed Literal sets, never from raw input.
    order = f"{sort_by} {sort_order.upper()}, id"
    pattern = _like_pattern(search)
    async with db.maintenance_tx(pool) as conn:
        total = await conn.fetchval(queries.admin_count_orgs, plan_tier, pattern)
        rows = await conn.fetch(
            queries.admin_list_orgs.format(order=order), plan_tier, pattern, limit, offset
        )
        ids = [r["id"] for r in rows]
        key_counts = {
            r["organization_id"]: r["n"] for r in await conn.fetch(queries.active_key_counts, ids)
        }
    usages = await _gather_usage(core, ids, strict=False)
    # The daily counter the limit is enforced on is billing's (queue-core's count
    # of today's rows differs after deletions and refunds); it is shown when
    # billing answers, and queue-core's count only when billing is absent.
    todays: list[int | None] = (
        list(await asyncio.gather(*(billing.jobs_today_or_none(i) for i in ids)))
        if billing
        else [None] * len(ids)
    )
    orgs = []
    for row, u, today in zip(rows, usages, todays, strict=True):
        body = service.org_body(row)
        body["usage"] = {
            "jobs_today": today if today is not None else (u.jobs_today if u else None),
            "active_jobs": u.active_jobs if u else None,
            "queues": u.queues if u else None,
            "workers": u.workers if u else None,
            "api_keys": key_counts.get(row["id"], 0),
        }
        orgs.append(body)
    return {"organizations": orgs, "total": total, "limit": limit, "offset": offset}


async def get_org_row(pool: asyncpg.Pool, org_id: str) -> asyncpg.Record:
    async with db.maintenance_tx(pool) as conn:
        row = await conn.fetchrow(queries.get_org, org_id)
    if row is None:
        raise errors.NotFound("Organization not found")
    return row


async def org_detail(
    pool: asyncpg.Pool, core: CoreClient, org_id: str, billing: BillingClient | None = None
) -> dict[str, Any]:
    row = await get_org_row(pool, org_id)
    async with db.maintenance_tx(pool) as conn:
        key_total = await conn.fetchval(queries.count_keys, org_id)
        active_keys = await conn.fetchval(queries.count_active_keys, org_id)
    counts = await usage.core_usage_or_none(core, org_id)
    today = await billing.jobs_today_or_none(org_id) if billing and counts else None
    body = service.org_body(row)
    body["usage_info"] = (
        usage.usage_info(row, counts, active_keys, jobs_today=today) if counts else None
    )
    body["api_keys_count"] = key_total
    body["total_jobs"] = counts.total_jobs if counts else None
    return body


async def patch_org(
    pool: asyncpg.Pool, billing: BillingClient, org_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply the fields present in ``changes``; ``custom_limits`` null or {} clears it.

    Plan fields go to billing (the owner) first; the gateway's copy takes
    billing's answer, so the two never disagree after a successful call.
    """
    if {"plan_tier", "custom_limits"} & changes.keys():
        await get_org_row(pool, org_id)  # 404 before billing records anything
        plan = await plan_sync.set_plan(
            billing,
            org_id,
            tier=changes.get("plan_tier"),
            replace_custom="custom_limits" in changes,
            custom=changes.get("custom_limits"),
        )
        changes = {**changes, "plan_tier": plan.plan_tier}
        if "custom_limits" in changes:
            changes["custom_limits"] = plan_sync.custom_limits(plan)
    clear_or_set = "custom_limits" in changes
    limits = changes.get("custom_limits") or None
    async with db.maintenance_tx(pool) as conn:
        try:
            row = await conn.fetchrow(
                queries.admin_update_org,
                org_id,
                changes.get("name"),
                changes.get("plan_tier"),
                changes.get("billing_email"),
                limits,
                clear_or_set,
                changes.get("settings"),
            )
        except asyncpg.UniqueViolationError as exc:
            raise service.duplicate_org(exc) from exc
    if row is None:
        raise errors.NotFound("Organization not found")
    authenticate.invalidate()  # plan tier is part of the cached key lookups
    return service.org_body(row)


async def delete_org(pool: asyncpg.Pool, org_id: str, *, hard: bool) -> None:
    """Soft delete (``plan_tier = 'deleted'``: keys stop working) or remove the row."""
    async with db.maintenance_tx(pool) as conn:
        query = queries.delete_org if hard else queries.soft_delete_org
        found = await conn.fetchval(query, org_id)
    if found is None:
        raise errors.NotFound("Organization not found")
    authenticate.invalidate()


async def reset_usage(pool: asyncpg.Pool, billing: BillingClient, org_id: str) -> None:
    """Zero today's job counter (billing's, the one the daily limit is checked against)."""
    async with db.maintenance_tx(pool) as conn:
        found = await conn.fetchval(queries.reset_org_usage, org_id)
    if found is None:
        raise errors.NotFound("Organization not found")
    await billing.call(org_id, "ResetDailyUsage", pb.DailyUsageRequest())


async def stats(pool: asyncpg.Pool, core: CoreClient, uptime_s: int) -> dict[str, Any]:
    """System-wide counts. Job and worker totals add up queue-core's per-org counters.

    queue-core keeps no 24 h completed/failed counters and does not split
    workers by health, so those fields are 0 and named in ``unavailable``.
    """
    async with db.maintenance_tx(pool) as conn:
        org_row = await conn.fetchrow(queries.org_stats)
        by_plan = [dict(r) for r in await conn.fetch(queries.org_counts_by_plan)]
        ids = [r["id"] for r in await conn.fetch(queries.org_ids_live)]
    counts = await _gather_usage(core, ids, strict=True)
    workers = sum(u.workers for u in counts)
    return {
        "organizations": {
            "total": org_row["total"],
            "by_plan": by_plan,
            "created_today": org_row["created_today"],
            "created_this_week": org_row["created_this_week"],
        },
        "jobs": {
            "total_active": sum(u.active_jobs for u in counts),
            "pending": sum(u.pending for u in counts),
            "processing": sum(u.processing for u in counts),
            "completed_24h": 0,
            "failed_24h": 0,
            "unavailable": ["completed_24h", "failed_24h"],
        },
        "workers": {
            "total": workers,
            "healthy": workers,
            "degraded": 0,
            "unavailable": ["degraded"],
        },
        "system": {"api_version": "v1", "uptime_seconds": uptime_s},
    }
