"""The internal gRPC API ``spooled.internal.v1.Billing``.

Each method reads the organization from metadata (except Stripe events, which
say whose they are), calls one service and maps the result to protobuf;
AppErrors become a status plus the error trailer, so a quota refusal reaches
the REST client as the same 429 body.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import grpc
import orjson
from grpc_health.v1 import health
from spooled_common import plans, rpc
from spooled_common.rpc import tenant_of
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc

from spooled_billing import metrics, wire
from spooled_billing.plans.service import PlanService
from spooled_billing.stripe.service import StripeService
from spooled_billing.usage.service import DailyCount, UsageService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Billing"].full_name

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Ctx: TypeAlias = grpc.aio.ServicerContext


def _rpc(fn: F) -> F:
    """Error mapping (``handle_errors``) plus a latency histogram per method."""
    inner = rpc.handle_errors(fn)
    seconds = metrics.RPC_SECONDS.labels(fn.__name__)

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        start = time.perf_counter()
        try:
            return await inner(self, request, context)
        finally:
            seconds.observe(time.perf_counter() - start)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Services:
    plans: PlanService
    usage: UsageService
    stripe: StripeService


def _org(context: Ctx) -> str:
    return tenant_of(context).org_id


def _daily(count: DailyCount) -> pb.DailyUsage:
    return pb.DailyUsage(day=count.day, jobs_today=count.jobs_today)


class BillingServicer(billing_pb2_grpc.BillingServicer):
    def __init__(self, services: Services) -> None:
        self._s = services

    @_rpc
    async def GetLimits(self, request: pb.GetLimitsRequest, context: Ctx) -> pb.OrgPlan:
        return wire.org_plan(await self._s.plans.get(_org(context)))

    @_rpc
    async def SetOrgPlan(self, request: pb.SetOrgPlanRequest, context: Ctx) -> pb.OrgPlan:
        custom = orjson.loads(request.custom_limits) if request.custom_limits else None
        plan = await self._s.plans.set(
            _org(context),
            tier=request.plan_tier if request.HasField("plan_tier") else None,
            replace_custom=request.set_custom_limits,
            custom=custom,
        )
        return wire.org_plan(plan)

    @_rpc
    async def ListPlans(self, request: pb.ListPlansRequest, context: Ctx) -> pb.PlanList:
        table = plans.current()
        return pb.PlanList(plans=[wire.limits(table[t]) for t in plans.TIERS])

    @_rpc
    async def ReserveJobs(self, request: pb.ReserveJobsRequest, context: Ctx) -> pb.Reservation:
        r = await self._s.usage.reserve(
            _org(context), int(request.count), int(request.largest_payload_bytes)
        )
        return pb.Reservation(
            reserved=r.reserved, day=r.day, jobs_today=r.jobs_today, limits=wire.limits(r.limits)
        )

    @_rpc
    async def RefundJobs(self, request: pb.RefundJobsRequest, context: Ctx) -> pb.DailyUsage:
        return _daily(await self._s.usage.refund(_org(context), int(request.count), request.day))

    @_rpc
    async def GetDailyUsage(self, request: pb.DailyUsageRequest, context: Ctx) -> pb.DailyUsage:
        return _daily(await self._s.usage.today(_org(context)))

    @_rpc
    async def ResetDailyUsage(self, request: pb.DailyUsageRequest, context: Ctx) -> pb.DailyUsage:
        return _daily(await self._s.usage.reset_today(_org(context)))

    @_rpc
    async def HandleStripeEvent(
        self, request: pb.StripeEventRequest, context: Ctx
    ) -> pb.StripeEventResponse:
        out = await self._s.stripe.handle(request.payload, request.signature)
        return pb.StripeEventResponse(
            event_id=out.event_id,
            event_type=out.event_type,
            duplicate=out.duplicate,
            org=wire.org_plan(out.org) if out.org is not None else None,
        )

    @_rpc
    async def CreatePortalSession(
        self, request: pb.PortalSessionRequest, context: Ctx
    ) -> pb.PortalSession:
        _org(context)
        return pb.PortalSession(url=self._s.stripe.portal_url(request.return_url))


def build_server(
    servicer: BillingServicer, token: str
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    return rpc.internal_server(
        billing_pb2_grpc.add_BillingServicer_to_server, servicer, token, SERVICE_NAME
    )
