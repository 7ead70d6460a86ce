"""The internal gRPC API ``spooled.internal.v1.Scheduler``.

Each method reads the tenant from metadata, calls the schedule service and
maps the result to protobuf; AppErrors become a gRPC status plus the error
trailer (``handle_errors``). Only callers with the internal token get this far.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from grpc_health.v1 import health
from spooled_common import rpc, timefmt
from spooled_common.rpc import tenant_of
from spooled_proto.spooled.internal.v1 import scheduler_pb2 as pb
from spooled_proto.spooled.internal.v1 import scheduler_pb2_grpc

from spooled_scheduler import metrics, wire
from spooled_scheduler.schedules.service import ScheduleService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Scheduler"].full_name

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


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, schedules: ScheduleService) -> None:
        self._s = schedules

    @_rpc
    async def CreateSchedule(self, request: pb.CreateScheduleRequest, context: Ctx) -> pb.Schedule:
        row = await self._s.create(
            tenant_of(context),
            wire.fields_from_spec(request.schedule),
            wire.optional(request, "max_active_schedules"),
        )
        return wire.schedule(row)

    @_rpc
    async def ListSchedules(
        self, request: pb.ListSchedulesRequest, context: Ctx
    ) -> pb.ScheduleList:
        rows = await self._s.list_page(
            tenant_of(context),
            queue_name=wire.optional(request, "queue_name"),
            is_active=wire.optional(request, "is_active"),
            limit=request.limit or 100,
            offset=request.offset,
        )
        return pb.ScheduleList(schedules=[wire.schedule(r) for r in rows])

    @_rpc
    async def GetSchedule(self, request: pb.ScheduleRef, context: Ctx) -> pb.Schedule:
        return wire.schedule(await self._s.get(tenant_of(context), request.id))

    @_rpc
    async def UpdateSchedule(self, request: pb.UpdateScheduleRequest, context: Ctx) -> pb.Schedule:
        row = await self._s.update(
            tenant_of(context),
            request.id,
            wire.changes_from_update(request),
            wire.optional(request, "max_active_schedules"),
        )
        return wire.schedule(row)

    @_rpc
    async def DeleteSchedule(
        self, request: pb.ScheduleRef, context: Ctx
    ) -> pb.DeleteScheduleResponse:
        await self._s.delete(tenant_of(context), request.id)
        return pb.DeleteScheduleResponse()

    @_rpc
    async def PauseSchedule(self, request: pb.ScheduleRef, context: Ctx) -> pb.Schedule:
        return wire.schedule(await self._s.pause(tenant_of(context), request.id))

    @_rpc
    async def ResumeSchedule(self, request: pb.ResumeScheduleRequest, context: Ctx) -> pb.Schedule:
        row = await self._s.resume(
            tenant_of(context), request.id, wire.optional(request, "max_active_schedules")
        )
        return wire.schedule(row)

    @_rpc
    async def TriggerSchedule(
        self, request: pb.ScheduleRef, context: Ctx
    ) -> pb.TriggerScheduleResponse:
        job_id, at = await self._s.trigger(tenant_of(context), request.id)
        metrics.MANUAL_TRIGGERS.inc()
        return pb.TriggerScheduleResponse(job_id=job_id, triggered_at=timefmt.to_ts(at))

    @_rpc
    async def GetScheduleHistory(
        self, request: pb.ScheduleHistoryRequest, context: Ctx
    ) -> pb.ScheduleRunList:
        rows = await self._s.history(tenant_of(context), request.id, request.limit or 50)
        return pb.ScheduleRunList(runs=[wire.run(r) for r in rows])


def build_server(
    servicer: SchedulerServicer, token: str
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    return rpc.internal_server(
        scheduler_pb2_grpc.add_SchedulerServicer_to_server, servicer, token, SERVICE_NAME
    )
