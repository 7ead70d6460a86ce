"""The public gRPC server (``spooled.v1`` on GRPC_PORT), started by the app lifespan.

Besides QueueService and WorkerService it serves ``grpc.health.v1`` (SERVING
for both services and for "") and server reflection under both
``grpc.reflection.v1`` and ``v1alpha`` so grpcurl and friends work unaided.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from spooled_common.tracing import grpc_interceptors as tracing_grpc
from spooled_proto.spooled.batch.v1 import batch_pb2, batch_pb2_grpc
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_proto.spooled.v1 import spooled_pb2_grpc

from spooled_gateway.grpc_public.auth import Authenticator
from spooled_gateway.grpc_public.batch_service import BatchServicer
from spooled_gateway.grpc_public.malformed import RejectMalformed
from spooled_gateway.grpc_public.ops import QueueOps
from spooled_gateway.grpc_public.queue_service import QueueServicer
from spooled_gateway.grpc_public.worker_service import WorkerServicer
from spooled_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(
    s.full_name for d in (pb.DESCRIPTOR, batch_pb2.DESCRIPTOR) for s in d.services_by_name.values()
)
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"

#: Receive cap: a 5 MiB payload (the largest plan) plus its envelope.
MAX_RECEIVE_BYTES = 6 * 1024 * 1024
#: Send cap: a full Dequeue batch of large payloads.
MAX_SEND_BYTES = 128 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.max_send_message_length", MAX_SEND_BYTES),
    # Notice dead stream clients (their leases would otherwise sit unused).
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Long-lived worker streams ping us; do not punish them for it.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]


async def start_public_grpc(app: Any, settings: GatewaySettings) -> grpc.aio.Server:
    """Build, bind and start the public server; the caller stops it on shutdown."""
    # Tracing (when on) first; then undecodable requests become INVALID_ARGUMENT (grpc
    # alone answers UNKNOWN).
    server = grpc.aio.server(
        interceptors=[*tracing_grpc.server_interceptors(), RejectMalformed()],
        options=SERVER_OPTIONS,
    )
    auth = Authenticator(app.state.db, getattr(app.state, "limiter", None))
    core = app.state.core
    ops = QueueOps(
        core,
        max_payload_bytes=settings.max_payload_bytes,
        completions=getattr(app.state, "completions", None),
    )
    spooled_pb2_grpc.add_QueueServiceServicer_to_server(QueueServicer(auth, ops), server)
    spooled_pb2_grpc.add_WorkerServiceServicer_to_server(
        WorkerServicer(auth, core, heartbeat_secs=settings.worker_heartbeat_interval_secs), server
    )
    batch_pb2_grpc.add_BatchServiceServicer_to_server(
        BatchServicer(auth, core, max_payload_bytes=settings.max_payload_bytes), server
    )
    health_servicer = await _add_health(server)
    _add_reflection(server)
    port = _bind(server, settings.grpc_port)
    await server.start()
    _drain_health_on_stop(server, health_servicer)
    app.state.grpc_port = port
    log.info("public gRPC listening on port %d", port)
    return server


def _bind(server: grpc.aio.Server, port: int) -> int:
    try:
        bound = server.add_insecure_port(f"[::]:{port}")
    except RuntimeError:
        bound = 0
    if not bound:  # no IPv6 on this host
        bound = server.add_insecure_port(f"0.0.0.0:{port}")
    if not bound:
        raise RuntimeError(f"cannot bind the public gRPC port {port}")
    return bound


async def _add_health(server: grpc.aio.Server) -> health.aio.HealthServicer:
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in (*SERVICE_NAMES, ""):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def _add_reflection(server: grpc.aio.Server) -> None:
    names = (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.aio.ReflectionServicer(names)
    for service in (reflection.SERVICE_NAME, REFLECTION_V1):
        # v1 is v1alpha under a new package name, field for field, so the one
        # servicer answers both.
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )


def _drain_health_on_stop(server: grpc.aio.Server, servicer: health.aio.HealthServicer) -> None:
    """Report NOT_SERVING as soon as shutdown begins, so balancers stop routing here."""
    stop = server.stop

    async def stop_draining(grace: float | None) -> None:
        await servicer.enter_graceful_shutdown()
        await stop(grace)

    server.stop = stop_draining  # type: ignore[method-assign]
