"""Authentication: API keys, JWTs, admin access.

Public surface for the rest of the gateway:

* :func:`require_principal` / :data:`CurrentPrincipal` — FastAPI dependency.
* :func:`require_admin` — FastAPI dependency for ``X-Admin-Key`` routes.
* :func:`authenticate_api_key` — ``await authenticate_api_key(pool, raw_key)``
  for the public gRPC server (``x-api-key`` metadata).
"""

from __future__ import annotations

from spooled_gateway.auth.authenticate import authenticate_api_key, invalidate
from spooled_gateway.auth.deps import CurrentPrincipal, require_admin, require_principal
from spooled_gateway.auth.principal import Principal

__all__ = [
    "CurrentPrincipal",
    "Principal",
    "authenticate_api_key",
    "invalidate",
    "require_admin",
    "require_principal",
]
