"""The gateway's path to schedules: the scheduler's internal gRPC API.

``await scheduler.call(tenant, "CreateSchedule", request)`` runs the RPC with
the tenant and internal token in metadata and turns a failed call back into
the AppError the scheduler raised (a scheduler that is down is a 503).
"""

from __future__ import annotations

from spooled_common import rpc
from spooled_proto.spooled.internal.v1 import scheduler_pb2_grpc


class SchedulerClient(rpc.InternalClient):
    #: Schedule calls are small; a trigger includes one queue-core enqueue.
    default_timeout = 15.0

    def __init__(self, addr: str, token: str) -> None:
        super().__init__(addr, token, scheduler_pb2_grpc.SchedulerStub)
