"""``/jobs/dlq``: list, retry and purge dead-lettered jobs (API.md §5).

The handlers live on :data:`routes`, which ``routes.jobs`` mounts ahead of its
``/jobs/{job_id}`` routes: mounted after them, ``GET /jobs/dlq`` would be read
as "the job with id dlq" and ``POST /jobs/dlq/retry`` as a job retry. app.py
includes :data:`router` (kept empty) after ``jobs``, which is then harmless.
Guarded by ``tests/integration/test_jobs_routing.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import jobs as schemas

#: Included by app.py; empty on purpose (see the module docstring).
router = APIRouter()
#: The DLQ routes, mounted by ``routes.jobs`` before ``/jobs/{job_id}``.
routes = APIRouter(tags=["dlq"])

Caller = Annotated[Principal, Depends(require_principal)]

PURGE_CONFIRM_MESSAGE = "Must set 'confirm: true' to purge dead-letter queue"


async def list_summaries(
    request: Request, principal: Principal, call: pb.ListJobsRequest
) -> Response:
    """Run a ListJobs and answer JobSummary rows with ``X-Has-More``."""
    reply = await request.app.state.core.call(principal.tenant, "ListJobs", call)
    return convert.json_response(
        [convert.job_summary(j) for j in reply.jobs],
        headers=convert.has_more_headers(reply.has_more),
    )


def _scoped_queue(principal: Principal, queue_name: str | None) -> None:
    """Bulk DLQ writes: a scoped key must name one of its queues (upstream [new])."""
    if queue_name is not None:
        principal.require_queue(queue_name)
    elif not principal.unrestricted:
        raise errors.AccessDenied("A queue-scoped API key must specify queue_name")


@routes.get(
    "/jobs/dlq", responses=common.documented(list[schemas.JobSummary], "Dead-lettered jobs")
)
async def list_dead_letters(
    request: Request,
    principal: Caller,
    queue_name: str | None = None,
    queue: Annotated[str | None, Query(description="Alias of queue_name")] = None,
    tag: Annotated[str | None, Query(max_length=1024)] = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    job_type: Annotated[str | None, Query(max_length=255)] = None,
    created_after: common.QueryTimestamp | None = None,
    created_before: common.QueryTimestamp | None = None,
    limit: int = listing.DEFAULT_LIMIT,
    offset: int = 0,
    order_by: str | None = None,
    order_dir: str | None = None,
) -> Response:
    """Dead-lettered jobs as summaries, newest first by default (``X-Has-More``)."""
    call = listing.list_request(
        queue_name=queue_name,
        queue=queue,
        statuses=["deadletter"],
        tag=tag,
        q=q,
        job_type=job_type,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
        order_by=order_by,
        order_dir=order_dir,
    )
    return await list_summaries(request, principal, call)


@routes.post(
    "/jobs/dlq/retry",
    openapi_extra=common.openapi_body(schemas.RetryDeadLetters, required=False),
    responses=common.documented(schemas.DeadLettersRetried, "Retried and skipped ids"),
)
async def retry_dead_letters(request: Request, principal: Caller) -> Response:
    """Move dead letters back to pending (oldest first): ``job_ids`` > ``queue_name`` > all."""
    body = common.parse_optional_body(schemas.RetryDeadLetters, await request.body())
    if not body.job_ids:
        _scoped_queue(principal, body.queue_name)
    elif body.queue_name is not None:
        principal.require_queue(body.queue_name)
    reply = await request.app.state.core.call(
        principal.tenant,
        "RetryDeadLetters",
        pb.RetryDeadLettersRequest(
            job_ids=body.job_ids or [], queue_name=body.queue_name, limit=body.limit or 100
        ),
    )
    retried = list(reply.retried_job_ids)
    return convert.json_response(
        {
            "retried_count": len(retried),
            "retried_jobs": retried,
            "skipped_jobs": list(reply.skipped_job_ids),
            # Older clients read the retried ids under this name.
            "job_ids": retried,
        }
    )


@routes.post(
    "/jobs/dlq/purge",
    openapi_extra=common.openapi_body(schemas.PurgeDeadLetters),
    responses=common.documented(schemas.DeadLettersPurged, "How many were deleted"),
)
async def purge_dead_letters(request: Request, principal: Caller) -> Response:
    """Delete dead letters for good; ``confirm: true`` is required."""
    body = common.parse_body(schemas.PurgeDeadLetters, await request.body())
    if body.confirm is not True:
        raise errors.ValidationError(PURGE_CONFIRM_MESSAGE)
    _scoped_queue(principal, body.queue_name)
    reply = await request.app.state.core.call(
        principal.tenant,
        "PurgeDeadLetters",
        pb.PurgeDeadLettersRequest(
            queue_name=body.queue_name,
            older_than=common.to_ts(body.older_than),
            limit=body.limit or 10_000,
        ),
    )
    return convert.json_response({"purged_count": reply.purged_count})
