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
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from spooled_common import errors, tracing

from spooled_gateway import ratelimit
from spooled_gateway.auth.authenticate import authenticate_access_token, authenticate_api_key
from spooled_gateway.auth.principal import Principal

#: JWTs are base64url JSON objects, so they always start like this.
JWT_MARKER = "eyJ"

#: The OpenAPI security schemes. They only *describe* the credentials (so the document
#: says which operations need which, and clients and fuzzers send them); the checks
#: and their upstream error bodies stay in the functions below (``auto_error=False``).
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth",
    description="An API key (sp_live_/sp_test_...) or a JWT access token from /auth/login",
    auto_error=False,
)
admin_key_scheme = APIKeyHeader(
    name="X-Admin-Key", scheme_name="adminKey", description="ADMIN_API_KEY", auto_error=False
)
#: Realtime routes only: browsers' EventSource and WebSocket cannot set headers.
REALTIME_SCHEMES = [
    Depends(bearer_scheme),
    Depends(APIKeyQuery(name="token", scheme_name="tokenQuery", auto_error=False)),
    Depends(APIKeyQuery(name="api_key", scheme_name="apiKeyQuery", auto_error=False)),
]


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Missing or invalid Authorization header")
    return token


async def require_principal(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> Principal:
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
    tracing.annotate({tracing.attrs.ORG_ID: principal.org_id})
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


async def require_admin(
    request: Request, _documented: Annotated[str | None, Depends(admin_key_scheme)] = None
) -> None:
    """Require ``X-Admin-Key`` equal to ``ADMIN_API_KEY`` (401 otherwise)."""
    configured = request.app.state.settings.admin_api_key
    if not configured:
        raise _admin_denied("admin_not_configured", "Admin API is not configured")
    supplied = request.headers.get("x-admin-key")
    if not supplied:
        raise _admin_denied("missing_admin_key", "Missing X-Admin-Key header")
    if not admin_key_matches(configured, supplied.strip()):
        raise _admin_denied("invalid_admin_key", "Invalid admin key")
