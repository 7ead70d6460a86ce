"""FastAPI dependencies: who is calling (``require_principal``) and admin access.

Usage in a route module::

    from spooled_gateway.auth import CurrentPrincipal

    @router.get("/jobs")
    async def list_jobs(principal: CurrentPrincipal) -> ...: ...
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from spooled_common import errors

from spooled_gateway import ratelimit
from spooled_gateway.auth.authenticate import authenticate_access_token, authenticate_api_key
from spooled_gateway.auth.principal import Principal

#: JWTs are base64url JSON objects, so they always start like this.
JWT_MARKER = "eyJ"


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Missing or invalid Authorization header")
    return token


async def require_principal(request: Request) -> Principal:
    """Authenticate ``Authorization: Bearer <API key | JWT access token>``.

    Raises:
        errors.Unauthorized: rendered as 401 ``{code: "UNAUTHORIZED", message}``.
        errors.RateLimited: the key's bucket is empty (429, see ratelimit/).
    """
    token = bearer_token(request)
    pool = request.app.state.db
    if token.startswith(JWT_MARKER):
        secret = request.app.state.settings.jwt_secret
        principal = await authenticate_access_token(pool, secret, token)
    else:
        principal = await authenticate_api_key(pool, token)
    request.state.principal = principal
    # Per-key rate limit (429 + Retry-After) and the org's in-flight slot.
    await ratelimit.admit(request, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


def admin_key_matches(configured: str, supplied: str) -> bool:
    """Constant-time comparison; hashing first hides the configured length too."""
    return hmac.compare_digest(
        hashlib.sha256(configured.encode()).digest(), hashlib.sha256(supplied.encode()).digest()
    )


def _admin_denied(kind: str, message: str) -> errors.Unauthorized:
    return errors.Unauthorized(message, extra={"error": kind})


async def require_admin(request: Request) -> None:
    """Require ``X-Admin-Key`` equal to ``ADMIN_API_KEY`` (401 otherwise)."""
    configured = request.app.state.settings.admin_api_key
    if not configured:
        raise _admin_denied("admin_not_configured", "Admin API is not configured")
    supplied = request.headers.get("x-admin-key")
    if not supplied:
        raise _admin_denied("missing_admin_key", "Missing X-Admin-Key header")
    if not admin_key_matches(configured, supplied.strip()):
        raise _admin_denied("invalid_admin_key", "Invalid admin key")
