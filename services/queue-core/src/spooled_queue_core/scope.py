"""The caller's queue scope: reads are filtered to it, writes outside it refused."""

from __future__ import annotations

from spooled_common import errors
from spooled_common.tenant import Tenant


def queues(tenant: Tenant) -> list[str] | None:
    """The SQL ``scope`` parameter: the allowed queue names, or None for every queue."""
    return None if tenant.queues is None else sorted(tenant.queues)


def require(tenant: Tenant, queue: str) -> None:
    """Refuse a write to a queue the caller's key does not cover."""
    if not tenant.allows(queue):
        raise errors.AccessDenied(f"API key does not have permission for queue '{queue}'")
