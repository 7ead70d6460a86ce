"""/api-keys: the calling org's keys (API.md §11.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from spooled_gateway.auth import CurrentPrincipal, api_keys
from spooled_gateway.auth.schemas import ApiKeyCreate, ApiKeyUpdate

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.get("")
async def list_api_keys(principal: CurrentPrincipal, request: Request) -> list[dict[str, Any]]:
    """Newest first, at most 100, revoked keys included."""
    return await api_keys.list_keys(request.app.state.db, principal.org_id)


@router.post("", status_code=201)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, request: Request
) -> dict[str, Any]:
    """The raw key is in this response and nowhere else, ever."""
    scope = api_keys.scope_within(body.queues, principal.queues)
    return await api_keys.create(
        request.app.state.db,
        principal.org_id,
        name=body.name,
        queues=scope,
        rate_limit=body.rate_limit,
        expires_at=body.expires_at,
        env=request.app.state.settings.key_env,
    )


@router.get("/{key_id}")
async def get_api_key(key_id: str, principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    return await api_keys.get(request.app.state.db, principal.org_id, key_id)


@router.put("/{key_id}")
async def update_api_key(
    key_id: str, body: ApiKeyUpdate, principal: CurrentPrincipal, request: Request
) -> dict[str, Any]:
    # Changing keys (scopes included) is an org-admin action.
    principal.require_unrestricted()
    return await api_keys.update(
        request.app.state.db,
        principal.org_id,
        key_id,
        name=body.name,
        queues=body.queues,
        rate_limit=body.rate_limit,
        is_active=body.is_active,
    )


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(key_id: str, principal: CurrentPrincipal, request: Request) -> Response:
    """Soft revoke: the key stays listed with ``is_active: false``."""
    principal.require_unrestricted()
    await api_keys.revoke(request.app.state.db, principal.org_id, key_id)
    return Response(status_code=204)
