"""``spooled.v1.WorkerService``: worker registration, heartbeats, deregistration."""

from __future__ import annotations

import grpc
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_proto.spooled.v1 import spooled_pb2_grpc

from spooled_gateway.core_client import CoreClient
from spooled_gateway.grpc_public import convert, rules, status
from spooled_gateway.grpc_public.auth import Authenticator

#: Told to gRPC workers: the lease a Dequeue with lease 0 gets (upstream gRPC).
WORKER_LEASE_SECS = rules.DEFAULT_LEASE_SECS
MAX_HOSTNAME = 255


class WorkerServicer(spooled_pb2_grpc.WorkerServiceServicer):
    def __init__(self, auth: Authenticator, core: CoreClient, *, heartbeat_secs: int) -> None:
        self._auth = auth
        self._core = core
        self._heartbeat_secs = heartbeat_secs

    @status.unary
    async def Register(
        self, request: pb.RegisterWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterWorkerResponse:
        who = await self._auth.principal(context)
        rules.check_queue_name(request.queue_name)
        who.require_queue(request.queue_name)
        if len(request.hostname) > MAX_HOSTNAME:
            raise errors.ValidationError("Hostname too long")
        call = core_pb.RegisterWorkerRequest(
            queue_name=request.queue_name,
            hostname=request.hostname,
            worker_type=request.worker_type or None,
            max_concurrency=rules.concurrency(request.max_concurrency),
            metadata=convert.string_map_to_json(request.metadata),
            version=request.version or None,
        )
        if request.HasField("worker_id") and request.worker_id:
            call.worker_id = rules.check_worker_id(request.worker_id)
        out = await self._core.call(who.tenant, "RegisterWorker", call)
        return pb.RegisterWorkerResponse(
            worker_id=out.worker.id,
            lease_duration_secs=WORKER_LEASE_SECS,
            heartbeat_interval_secs=out.heartbeat_interval_secs or self._heartbeat_secs,
        )

    @status.unary
    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.HeartbeatResponse:
        who = await self._auth.principal(context)
        rules.require(request.worker_id, "Worker ID")
        call = core_pb.WorkerHeartbeatRequest(
            worker_id=request.worker_id,
            current_jobs=max(request.current_jobs, 0),
            status=rules.worker_status(request.status),
            # Empty map: keep the metadata the worker registered with.
            metadata=convert.string_map_to_json(request.metadata) if request.metadata else b"",
        )
        try:
            out = await self._core.call(who.tenant, "WorkerHeartbeat", call)
        except errors.NotFound:
            # Upstream acknowledges nothing rather than failing the call.
            return pb.HeartbeatResponse(acknowledged=False, should_drain=False)
        return pb.HeartbeatResponse(acknowledged=True, should_drain=out.should_drain)

    @status.unary
    async def Deregister(
        self, request: pb.DeregisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeregisterResponse:
        who = await self._auth.principal(context)
        rules.require(request.worker_id, "Worker ID")
        try:
            await self._core.call(
                who.tenant, "DeregisterWorker", core_pb.WorkerRef(worker_id=request.worker_id)
            )
        except errors.NotFound:
            return pb.DeregisterResponse(success=False)
        return pb.DeregisterResponse(success=True)
