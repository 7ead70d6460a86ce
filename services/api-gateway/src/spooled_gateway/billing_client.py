"""The gateway's path to plans, usage counters and Stripe: billing's internal gRPC API.

``await billing.call(org_id, "SetOrgPlan", request)`` runs the RPC with the
organization and internal token in metadata and turns a failed call back into
the AppError billing raised (billing being down is a 503).
"""

from __future__ import annotations

from typing import Any

from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc

DEFAULT_TIMEOUT_S = 10.0
#: Reads that decorate another answer (usage views) give up sooner.
SHORT_TIMEOUT_S = 2.0


class BillingClient(rpc.InternalClient):
    default_timeout = DEFAULT_TIMEOUT_S

    def __init__(self, addr: str, token: str) -> None:
        super().__init__(addr, token, billing_pb2_grpc.BillingStub)

    async def call(  # type: ignore[override]
        self, org_id: str | None, method: str, request: Any, *, timeout: float | None = None
    ) -> Any:
        """Billing calls name the organization only (no key scope)."""
        tenant = Tenant(org_id) if org_id else None
        return await super().call(tenant, method, request, timeout=timeout)

    async def jobs_today_or_none(self, org_id: str) -> int | None:
        """Today's admitted jobs, or None when billing cannot answer quickly."""
        try:
            got = await self.call(
                org_id, "GetDailyUsage", pb.DailyUsageRequest(), timeout=SHORT_TIMEOUT_S
            )
        except errors.AppError:
            return None
        return int(got.jobs_today)
