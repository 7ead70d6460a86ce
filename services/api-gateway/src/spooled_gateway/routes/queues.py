"""``/queues``: queue configuration, stats, pause/resume, delete (API.md §6).

Queues are implicit (the first job creates one); queue-core owns their config
rows. Every write checks the key's scope for the named queue (403); names in
paths follow the same rule as in bodies (400), which also refuses ``..``.
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
from spooled_gateway.schemas import queues as schemas

router = APIRouter(tags=["queues"])

Caller = Annotated[Principal, Depends(require_principal)]

#: Upstream lists at most this many queue configs.
LIST_LIMIT = 100


def _writable(principal: Principal, name: str) -> str:
    common.path_queue_name(name)
    principal.require_queue(name)
    return name


@router.get("/queues", responses=common.documented(list[schemas.QueueSummary], "Configured queues"))
async def list_queues(request: Request, principal: Caller) -> Response:
    """Configured queues, by name."""
    reply = await request.app.state.core.call(
        principal.tenant, "ListQueues", pb.ListQueuesRequest(limit=LIST_LIMIT)
    )
    return convert.json_response([convert.queue_summary(q) for q in reply.queues])


@router.get("/queues/{name}", responses=common.documented(schemas.QueueConfig, "The configuration"))
async def get_queue(name: str, request: Request, principal: Caller) -> Response:
    """One queue's full configuration (404 if it has none)."""
    reply = await request.app.state.core.call(
        principal.tenant, "GetQueue", pb.QueueRef(queue_name=common.path_queue_name(name))
    )
    return convert.json_response(convert.queue_config(reply))


@router.put(
    "/queues/{name}/config",
    openapi_extra=common.openapi_body(schemas.UpdateQueueConfig),
    responses=common.documented(schemas.QueueConfig, "The configuration after the update"),
)
async def update_queue_config(name: str, request: Request, principal: Caller) -> Response:
    """Create or update a queue's config; omitted fields keep their value, settings merge."""
    _writable(principal, name)
    body = common.parse_body(schemas.UpdateQueueConfig, await request.body())
    reply = await request.app.state.core.call(
        principal.tenant,
        "UpdateQueueConfig",
        pb.UpdateQueueConfigRequest(
            queue_name=name,
            max_retries=body.max_retries,
            default_timeout=body.default_timeout,
            rate_limit=body.rate_limit,
            enabled=body.enabled,
            settings=common.dump_doc(body.settings, "settings"),
        ),
    )
    return convert.json_response(convert.queue_config(reply))


@router.get(
    "/queues/{name}/stats", responses=common.documented(schemas.QueueStats, "Counts and timing")
)
async def queue_stats(name: str, request: Request, principal: Caller) -> Response:
    """Depth, throughput and workers of one queue."""
    reply = await request.app.state.core.call(
        principal.tenant, "GetQueueStats", pb.QueueRef(queue_name=common.path_queue_name(name))
    )
    return convert.json_response(convert.queue_stats(reply))


@router.post(
    "/queues/{name}/pause",
    openapi_extra=common.openapi_body(schemas.PauseQueue, required=False),
    responses=common.documented(schemas.QueuePaused, "Paused"),
)
async def pause_queue(name: str, request: Request, principal: Caller) -> Response:
    """Stop handing out the queue's jobs (claims return nothing) until resumed."""
    _writable(principal, name)
    body = common.parse_optional_body(schemas.PauseQueue, await request.body())
    reply = await request.app.state.core.call(
        principal.tenant, "PauseQueue", pb.PauseQueueRequest(queue_name=name, reason=body.reason)
    )
    return convert.json_response(convert.queue_paused(reply))


@router.post("/queues/{name}/resume", responses=common.documented(schemas.QueueResumed, "Resumed"))
async def resume_queue(name: str, request: Request, principal: Caller) -> Response:
    """Hand out the queue's jobs again (any request body is ignored)."""
    _writable(principal, name)
    reply = await request.app.state.core.call(
        principal.tenant, "ResumeQueue", pb.QueueRef(queue_name=name)
    )
    return convert.json_response(convert.queue_resumed(reply))


@router.delete("/queues/{name}", status_code=204)
async def delete_queue(
    name: str, request: Request, principal: Caller, delete_jobs: bool = False
) -> Response:
    """Delete a queue's config (409 while it has active jobs, unless ``delete_jobs=true``)."""
    _writable(principal, name)
    await request.app.state.core.call(
        principal.tenant,
        "DeleteQueue",
        pb.DeleteQueueRequest(queue_name=name, delete_jobs=delete_jobs),
    )
    return Response(status_code=204)
