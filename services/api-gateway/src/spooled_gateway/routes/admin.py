"""/admin: operator endpoints behind ``X-Admin-Key`` (API.md §11.3)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from spooled_common import errors

from spooled_gateway.auth import api_keys, require_admin
from spooled_gateway.auth.schemas import ApiKeyCreate
from spooled_gateway.orgs import admin, plan_sync, plans, service
from spooled_gateway.orgs.schemas import AdminOrgCreate, AdminOrgPatch
from spooled_gateway.routes import health
from spooled_gateway.schemas import listing

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("/organizations")
async def list_organizations(
    request: Request,
    plan_tier: str | None = Query(default=None, max_length=32),
    search: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=50, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=listing.MAX_OFFSET),
    sort_by: admin.SortBy = "created_at",
    sort_order: admin.SortOrder = "desc",
) -> dict[str, Any]:
    return await admin.list_orgs(
        request.app.state.db,
        request.app.state.core,
        plan_tier=plan_tier,
        search=search,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        sort_order=sort_order,
        billing=request.app.state.billing,
    )


@router.post("/organizations", status_code=201)
async def create_organization(body: AdminOrgCreate, request: Request) -> dict[str, Any]:
    """Like public sign-up, whatever REGISTRATION_MODE says, with a chosen plan.

    A plan other than plain free is recorded in billing first, under the id
    the organization is then created with.
    """
    org_id = str(uuid.uuid4())
    tier, custom = body.plan_tier, body.custom_limits
    if tier != "free" or custom:
        plan = await plan_sync.set_plan(
            request.app.state.billing, org_id, tier=tier, replace_custom=True, custom=custom
        )
        tier, custom = plan.plan_tier, plan_sync.custom_limits(plan)
    return await service.create_org(
        request.app.state.db,
        name=body.name,
        slug=body.slug,
        billing_email=body.billing_email,
        key_env=request.app.state.settings.key_env,
        plan_tier=tier,
        settings=body.settings,
        custom_limits=custom,
        org_id=org_id,
    )


@router.get("/organizations/{org_id}")
async def get_organization(org_id: str, request: Request) -> dict[str, Any]:
    state = request.app.state
    return await admin.org_detail(state.db, state.core, org_id, state.billing)


@router.patch("/organizations/{org_id}")
async def update_organization(org_id: str, body: AdminOrgPatch, request: Request) -> dict[str, Any]:
    return await admin.patch_org(
        request.app.state.db,
        request.app.state.billing,
        org_id,
        body.model_dump(exclude_unset=True),
    )


@router.delete("/organizations/{org_id}", status_code=204)
async def delete_organization(org_id: str, request: Request, hard_delete: bool = False) -> Response:
    await admin.delete_org(request.app.state.db, org_id, hard=hard_delete)
    return Response(status_code=204)


@router.post("/organizations/{org_id}/api-keys", status_code=201)
async def create_api_key(org_id: str, body: ApiKeyCreate, request: Request) -> dict[str, Any]:
    """Operator-issued keys skip the plan's key cap."""
    pool = request.app.state.db
    org = await admin.get_org_row(pool, org_id)
    if org["plan_tier"] == "deleted":
        raise errors.NotFound("Organization not found")
    return await api_keys.create(
        pool,
        org_id,
        name=body.name,
        queues=body.queues or api_keys.ALL_QUEUES,
        rate_limit=body.rate_limit,
        expires_at=body.expires_at,
        env=request.app.state.settings.key_env,
        enforce_cap=False,
    )


@router.post("/organizations/{org_id}/reset-usage", status_code=204)
async def reset_usage(org_id: str, request: Request) -> Response:
    await admin.reset_usage(request.app.state.db, request.app.state.billing, org_id)
    return Response(status_code=204)


@router.get("/stats")
async def get_stats(request: Request) -> dict[str, Any]:
    uptime = int(time.monotonic() - health.PROCESS_STARTED)
    return await admin.stats(request.app.state.db, request.app.state.core, uptime)


@router.get("/plans")
async def list_plans() -> list[dict[str, Any]]:
    return plans.all_plans()
