"""/organizations (API.md §2.1, §11.1).

Routes with literal segments (``usage``, ``check-slug``, ``generate-slug``,
``webhook-token``) are declared before ``/{org_id}`` so they are not taken
for an id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from spooled_common import errors, timefmt

from spooled_gateway.auth import CurrentPrincipal, Principal, deps, throttle
from spooled_gateway.orgs import service, usage
from spooled_gateway.orgs.schemas import GenerateSlug, OrgCreate, OrgUpdate

router = APIRouter(prefix="/organizations", tags=["organizations"])


def _check_registration(request: Request) -> None:
    settings = request.app.state.settings
    mode = settings.registration_mode
    if mode == "invite":
        raise errors.AccessDenied("Registration is by invitation only")
    if mode == "closed":
        supplied = request.headers.get("x-admin-key")
        configured = settings.admin_api_key
        if not (configured and supplied and deps.admin_key_matches(configured, supplied.strip())):
            raise errors.AccessDenied("Registration is closed; an X-Admin-Key is required")


def _own(principal: Principal, org_id: str) -> None:
    """Another org's id is indistinguishable from a missing one."""
    if org_id != principal.org_id:
        raise errors.NotFound("Organization not found")


@router.post("", status_code=201)
async def create_organization(body: OrgCreate, request: Request) -> dict[str, Any]:
    """Public: create an org and return its first (unrestricted) API key, once."""
    _check_registration(request)
    return await service.create_org(
        request.app.state.db,
        name=body.name,
        slug=body.slug,
        billing_email=body.billing_email,
        key_env=request.app.state.settings.key_env,
    )


@router.get("")
async def list_organizations(principal: CurrentPrincipal, request: Request) -> list[dict[str, Any]]:
    row = await service.get_org(request.app.state.db, principal.org_id)
    return [service.org_summary(row)]


@router.get("/usage")
async def get_usage(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    principal.require_unrestricted()
    pool = request.app.state.db
    org = await service.get_org(pool, principal.org_id)
    counts = await usage.core_usage(request.app.state.core, principal.org_id)
    today = await request.app.state.billing.jobs_today_or_none(principal.org_id)
    keys = await usage.active_key_count(pool, principal.org_id)
    return usage.usage_info(org, counts, keys, jobs_today=today)


@router.get("/check-slug")
async def check_slug(request: Request, slug: str = Query(max_length=200)) -> dict[str, Any]:
    pool = request.app.state.db
    await throttle.check_slug_rate(pool, throttle.client_ip(request))
    return await service.check_slug(pool, slug)


@router.post("/generate-slug")
async def generate_slug(body: GenerateSlug, request: Request) -> dict[str, Any]:
    pool = request.app.state.db
    await throttle.check_slug_rate(pool, throttle.client_ip(request))
    slug = await service.available_variant(pool, service.slugify(body.name))
    if slug is None:
        raise errors.Conflict("Could not find an available slug; try another name")
    return {"slug": slug}


def _webhook_body(request: Request, org_id: str, token: str | None) -> dict[str, Any]:
    base = request.app.state.settings.external_url.rstrip("/")
    return {"webhook_token": token, "webhook_url": f"{base}/api/v1/webhooks/{org_id}/custom"}


@router.get("/webhook-token")
async def get_webhook_token(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    principal.require_unrestricted()
    token = await service.webhook_token(request.app.state.db, principal.org_id)
    return _webhook_body(request, principal.org_id, token)


@router.post("/webhook-token/regenerate")
async def regenerate_webhook_token(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    principal.require_unrestricted()
    token = await service.regenerate_webhook_token(request.app.state.db, principal.org_id)
    return _webhook_body(request, principal.org_id, token)


@router.post("/webhook-token/clear")
async def clear_webhook_token(principal: CurrentPrincipal) -> None:
    """Upstream keeps this route but refuses it: an org always has a token."""
    raise errors.BadRequest(
        "The webhook token cannot be cleared; use /organizations/webhook-token/regenerate"
    )


@router.get("/{org_id}")
async def get_organization(
    org_id: str, principal: CurrentPrincipal, request: Request
) -> dict[str, Any]:
    _own(principal, org_id)
    return service.org_body(await service.get_org(request.app.state.db, org_id))


@router.put("/{org_id}")
async def update_organization(
    org_id: str, body: OrgUpdate, principal: CurrentPrincipal, request: Request
) -> dict[str, Any]:
    _own(principal, org_id)
    principal.require_unrestricted()
    row = await service.update_org(
        request.app.state.db,
        org_id,
        name=body.name,
        billing_email=body.billing_email,
        settings=body.settings,
    )
    return service.org_body(row)


@router.delete("/{org_id}", status_code=204)
async def delete_organization(
    org_id: str, principal: CurrentPrincipal, request: Request
) -> Response:
    _own(principal, org_id)
    principal.require_unrestricted()
    # Refuse while work is in flight; if queue-core cannot say, this is a 503.
    counts = await usage.core_usage(request.app.state.core, org_id)
    if counts.active_jobs > 0 or counts.workers > 0:
        raise errors.Conflict(
            "Organization has active jobs or workers; finish or cancel them first",
            details={"active_jobs": counts.active_jobs, "workers": counts.workers},
        )
    await service.delete_org(request.app.state.db, org_id)
    return Response(status_code=204)


@router.get("/{org_id}/members")
async def list_members(
    org_id: str, principal: CurrentPrincipal, request: Request
) -> list[dict[str, Any]]:
    """Upstream has no users: each active key is a member; unrestricted keys are owners."""
    _own(principal, org_id)
    principal.require_unrestricted()
    pool = request.app.state.db
    org = await service.get_org(pool, org_id)
    rows = await service.member_keys(pool, org_id)
    return [
        {
            "id": r["id"],
            "user_id": r["id"],
            "email": org["billing_email"] or "",
            "name": r["name"],
            "role": "owner" if (not r["queues"] or "*" in r["queues"]) else "member",
            "joined_at": timefmt.iso(r["created_at"]),
            "invited_by": None,
        }
        for r in rows
    ]
