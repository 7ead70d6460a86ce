"""/auth: exchange an API key for JWTs, refresh, logout, introspection."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from spooled_common import errors, timefmt

from spooled_gateway.auth import CurrentPrincipal, authenticate, deps, throttle, tokens
from spooled_gateway.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    ValidateRequest,
)
from spooled_gateway.orgs import service as org_service

router = APIRouter(prefix="/auth", tags=["auth"])


def _invalid_credentials() -> errors.Unauthorized:
    return errors.Unauthorized("Invalid credentials", extra={"error": "unauthorized"})


@router.post("/login")
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    pool = request.app.state.db
    settings = request.app.state.settings
    ip = throttle.client_ip(request)
    await throttle.check_login_allowed(pool, ip)
    try:
        principal = await authenticate.authenticate_api_key(pool, body.api_key)
    except errors.Unauthorized:
        await throttle.record_login_failure(pool, ip)
        raise _invalid_credentials() from None
    pair = tokens.issue_pair(
        settings.jwt_secret,
        settings.jwt_expiration_hours,
        org_id=principal.org_id,
        api_key_id=principal.api_key_id,
        queues=principal.queues,
    )
    access_s, refresh_s = tokens.lifetimes(settings.jwt_expiration_hours)
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": access_s,
        "refresh_expires_in": refresh_s,
    }


@router.post("/refresh")
async def refresh(body: RefreshRequest, request: Request) -> dict[str, Any]:
    pool = request.app.state.db
    settings = request.app.state.settings
    claims = tokens.decode(settings.jwt_secret, body.refresh_token)
    if claims.token_type != tokens.REFRESH:
        raise errors.Unauthorized("Invalid token type")
    record = await authenticate.session_key(pool, claims)
    access_s, _ = tokens.lifetimes(settings.jwt_expiration_hours)
    token, _ = tokens.issue(
        settings.jwt_secret,
        access_s,
        org_id=record.organization_id,
        api_key_id=record.id,
        queues=record.queues,
        token_type=tokens.ACCESS,
        sid=claims.sid,
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": access_s}


@router.post("/logout", status_code=204)
async def logout(
    principal: CurrentPrincipal, request: Request, body: LogoutRequest | None = None
) -> Response:
    """Revoke the calling token's session, and the session of ``refresh_token`` if given."""
    pool = request.app.state.db
    settings = request.app.state.settings
    _, refresh_s = tokens.lifetimes(settings.jwt_expiration_hours)
    sessions: list[tokens.Claims] = []
    if principal.via == "jwt":
        sessions.append(tokens.decode(settings.jwt_secret, deps.bearer_token(request)))
    if body is not None and body.refresh_token:
        try:
            other = tokens.decode(settings.jwt_secret, body.refresh_token)
        except errors.Unauthorized:
            other = None  # already expired or garbage: nothing left to revoke
        if other is not None and other.org_id == principal.org_id:
            sessions.append(other)
    for claims in sessions:
        await tokens.revoke_session(pool, claims, refresh_lifetime_s=refresh_s)
    authenticate.invalidate()
    return Response(status_code=204)


@router.get("/me")
async def me(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    org = await org_service.get_org(request.app.state.db, principal.org_id)
    return {
        "organization_id": principal.org_id,
        "api_key_id": principal.api_key_id,
        "queues": list(principal.queues),
        "issued_at": timefmt.iso(principal.issued_at),
        "expires_at": timefmt.iso(principal.expires_at),
        "organization": {
            "id": org["id"],
            "name": org["name"],
            "slug": org["slug"],
            "plan_tier": org["plan_tier"],
            "billing_email": org["billing_email"],
        },
    }


@router.post("/validate")
async def validate(body: ValidateRequest, request: Request) -> dict[str, Any]:
    """Introspect any of our tokens (access or refresh): signature, expiry, revocation."""
    try:
        claims = tokens.decode(request.app.state.settings.jwt_secret, body.token)
    except errors.Unauthorized:
        return {"valid": False, "error": "Invalid token"}
    if await tokens.is_revoked(request.app.state.db, claims):
        return {"valid": False, "error": "Token has been revoked"}
    return {"valid": True, "claims": claims.as_dict()}
