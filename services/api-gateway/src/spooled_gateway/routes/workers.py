"""``/workers``: registration and liveness of REST workers (API.md §7, SDK.md §3).

The SDK worker registers (201), heartbeats every ``heartbeat_interval_secs``
with ``{"current_jobs", "status"}`` and deregisters on stop. Worker ids in
paths are the ones registration returned; queue-core scopes them to the tenant.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.schemas import common
from spooled_gateway.schemas import workers as schemas

router = APIRouter(tags=["workers"])

Caller = Annotated[Principal, Depends(require_principal)]

LIST_LIMIT = 100
DEFAULT_MAX_CONCURRENCY = 5


@router.post(
    "/workers/register",
    status_code=201,
    openapi_extra=common.openapi_body(schemas.RegisterWorker),
    responses=common.documented(schemas.WorkerRegistered, "Registered", 201),
)
async def register_worker(request: Request, principal: Caller) -> Response:
    """Register (or, with a stable ``worker_id``, re-register) a worker for a queue."""
    body = common.parse_body(schemas.RegisterWorker, await request.body())
    principal.require_queue(body.queue_name)
    settings = request.app.state.settings
    reply = await request.app.state.core.call(
        principal.tenant,
        "RegisterWorker",
        pb.RegisterWorkerRequest(
            queue_name=body.queue_name,
            hostname=body.hostname,
            worker_id=body.worker_id,
            worker_type=body.worker_type,
            max_concurrency=body.max_concurrency or DEFAULT_MAX_CONCURRENCY,
            metadata=common.dump_doc(body.metadata, "metadata"),
            version=body.version,
        ),
    )
    return convert.json_response(
        convert.worker_registered(
            reply, settings.worker_lease_duration_secs, settings.worker_heartbeat_interval_secs
        ),
        201,
    )


@router.get("/workers", responses=common.documented(list[schemas.WorkerSummary], "Workers"))
async def list_workers(request: Request, principal: Caller) -> Response:
    """Workers, most recent heartbeat first."""
    reply = await request.app.state.core.call(
        principal.tenant, "ListWorkers", pb.ListWorkersRequest(limit=LIST_LIMIT)
    )
    return convert.json_response([convert.worker_summary(w) for w in reply.workers])


@router.get("/workers/{worker_id}", responses=common.documented(schemas.Worker, "The worker"))
async def get_worker(worker_id: str, request: Request, principal: Caller) -> Response:
    reply = await request.app.state.core.call(
        principal.tenant,
        "GetWorker",
        pb.WorkerRef(worker_id=common.path_id(worker_id, "worker_id")),
    )
    return convert.json_response(convert.worker(reply))


@router.post(
    "/workers/{worker_id}/heartbeat",
    openapi_extra=common.openapi_body(schemas.WorkerHeartbeat),
    # Documented as what it is: no body (not JSON).
    response_class=Response,
    responses={200: {"description": "Recorded; empty body"}},
)
async def worker_heartbeat(worker_id: str, request: Request, principal: Caller) -> Response:
    """Record liveness; 200 with an empty body, as upstream (the SDK ignores it)."""
    body = common.parse_body(schemas.WorkerHeartbeat, await request.body())
    await request.app.state.core.call(
        principal.tenant,
        "WorkerHeartbeat",
        pb.WorkerHeartbeatRequest(
            worker_id=common.path_id(worker_id, "worker_id"),
            current_jobs=body.current_jobs,
            status=body.normalized_status,
            metadata=common.dump_doc(body.metadata, "metadata"),
        ),
    )
    return Response(status_code=200)


@router.post("/workers/{worker_id}/deregister", status_code=204)
async def deregister_worker(worker_id: str, request: Request, principal: Caller) -> Response:
    """Mark the worker offline (204); what happens to its leased jobs is queue-core's call."""
    await request.app.state.core.call(
        principal.tenant,
        "DeregisterWorker",
        pb.WorkerRef(worker_id=common.path_id(worker_id, "worker_id")),
    )
    return Response(status_code=204)
