"""The gateway's only path to job state: queue-core's internal gRPC API.

``await core.call(tenant, "CreateJob", request)`` runs the RPC with the tenant
and internal token in metadata and turns a failed call back into the AppError
queue-core raised, so route handlers just let it propagate.
"""

from __future__ import annotations

from spooled_common import rpc
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc


class CoreClient(rpc.InternalClient):
    #: Unary calls give up after this long (claims with wait_ms get wait + this).
    default_timeout = 30.0

    def __init__(self, addr: str, token: str) -> None:
        super().__init__(addr, token, queue_core_pb2_grpc.QueueCoreStub)
