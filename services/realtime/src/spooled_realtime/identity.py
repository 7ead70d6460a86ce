"""Who is calling: realtime is internal-only and believes the gateway's forwarded identity.

The gateway authenticates the API key or JWT and forwards the result as the
same headers internal gRPC uses: ``x-internal-token`` (proves the caller is
the gateway), ``x-spooled-org-id`` and ``x-spooled-queues`` (the key's scope,
``*`` for all). Anything else is refused.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from spooled_common import errors, rpc
from spooled_common.tenant import Tenant


def tenant_from_headers(headers: Mapping[str, str], internal_token: str) -> Tenant:
    """The forwarded tenant.

    Raises:
        errors.Unauthorized: missing or wrong internal token, or no organization.
    """
    supplied = headers.get(rpc.TOKEN_KEY, "")
    if not supplied or not hmac.compare_digest(supplied.encode(), internal_token.encode()):
        raise errors.Unauthorized("Missing or invalid internal token")
    org = headers.get(rpc.ORG_KEY, "")
    if not org:
        raise errors.Unauthorized("Missing organization context")
    return Tenant.from_headers(org, headers.get(rpc.SCOPE_KEY))
