"""``/jobs``: producers, operators and REST workers (API.md §4).

Every handler validates, calls queue-core once, and renders the reply: the
gateway holds no job state. Writes that name a queue check the key's scope
first (403); reads and id-addressed writes are scoped by queue-core, which gets
the tenant and scope with every call (out-of-scope jobs are 404 there).

Route order matters: literal paths (``/jobs/stats``, ``/jobs/status``,
``/jobs/bulk``, ``/jobs/claim`` and the DLQ routes under ``/jobs/dlq``) are
registered before ``/jobs/{job_id}`` so the parameter cannot swallow them.
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
from spooled_gateway.routes import dlq
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import jobs as schemas
from spooled_gateway.schemas import workflows as workflow_schemas
from spooled_gateway.settings import GatewaySettings

router = APIRouter(tags=["jobs"])
# Before any /jobs/{job_id} route: see the module docstring.
router.include_router(dlq.routes)

Caller = Annotated[Principal, Depends(require_principal)]

MAX_STATUS_IDS = 100
#: Unary deadline beyond a claim's long-poll wait.
CLAIM_DEADLINE_MARGIN_S = 10.0


def _spec(request: Request, body: schemas.CreateJob) -> pb.JobSpec:
    settings = request.app.state.settings
    return pb.JobSpec(
        queue_name=body.queue_name,
        payload=common.dump_payload(body.payload, settings.max_payload_bytes),
        priority=body.priority or 0,
        max_retries=body.max_retries,
        timeout_seconds=body.timeout_seconds,
        scheduled_at=common.to_ts(body.scheduled_at),
        expires_at=common.to_ts(body.expires_at),
        idempotency_key=body.idempotency_key,
        tags=common.dump_doc(body.tags, "tags"),
        parent_job_id=body.parent_job_id,
        completion_webhook=_webhook(settings, body.completion_webhook),
        completion_webhook_secret=body.completion_webhook_secret,
    )


def _webhook(settings: GatewaySettings, url: str | None) -> str | None:
    # Production only calls out over TLS; delivery re-checks the resolved address.
    if url is not None and settings.is_production and not url.startswith("https://"):
        raise errors.ValidationError("completion_webhook: must use https in production")
    return url


# -- producers -------------------------------------------------------------


@router.post(
    "/jobs",
    status_code=201,
    openapi_extra=common.openapi_body(schemas.CreateJob),
    responses={
        **common.documented(schemas.JobCreated, "Enqueued", 201),
        **common.documented(schemas.JobCreated, "Idempotent hit: the existing job's id"),
    },
)
async def create_job(request: Request, principal: Caller) -> Response:
    """Enqueue one job: 201 ``{id, created: true}``, or 200 ``{id, created: false}`` on a
    repeated ``idempotency_key``."""
    body = common.parse_body(schemas.CreateJob, await request.body())
    principal.require_queue(body.queue_name)
    spec = _spec(request, body)
    reply = await request.app.state.core.call(
        principal.tenant, "CreateJob", pb.CreateJobRequest(job=spec)
    )
    return convert.json_response(
        {"id": reply.id, "created": reply.created}, 201 if reply.created else 200
    )


@router.post(
    "/jobs/bulk",
    openapi_extra=common.openapi_body(schemas.BulkCreateJobs),
    responses=common.documented(schemas.BulkJobsResult, "Per-item outcome"),
)
async def bulk_create_jobs(request: Request, principal: Caller) -> Response:
    """Enqueue 1..100 jobs into one queue; per-item outcome, HTTP 200 even if some failed."""
    body = common.parse_body(schemas.BulkCreateJobs, await request.body())
    principal.require_queue(body.queue_name)
    limit = request.app.state.settings.max_payload_bytes
    specs = []
    for i, item in enumerate(body.jobs):
        priority = item.priority if item.priority is not None else body.default_priority
        specs.append(
            pb.JobSpec(
                queue_name=body.queue_name,
                payload=common.dump_payload(item.payload, limit, f"jobs.{i}.payload"),
                priority=priority or 0,
                max_retries=item.max_retries
                if item.max_retries is not None
                else body.default_max_retries,
                timeout_seconds=item.timeout_seconds
                if item.timeout_seconds is not None
                else body.default_timeout_seconds,
                scheduled_at=common.to_ts(item.scheduled_at),
                expires_at=common.to_ts(item.expires_at),
                idempotency_key=item.idempotency_key,
                tags=common.dump_doc(item.tags, f"jobs.{i}.tags"),
            )
        )
    reply = await request.app.state.core.call(
        principal.tenant, "CreateJobs", pb.CreateJobsRequest(jobs=specs)
    )
    return convert.json_response(convert.bulk_result(reply.results, len(specs)))


# -- reads -----------------------------------------------------------------


@router.get("/jobs", responses=common.documented(list[schemas.JobSummary], "Job summaries"))
async def list_jobs(
    request: Request,
    principal: Caller,
    queue_name: str | None = None,
    queue: Annotated[str | None, Query(description="Alias of queue_name")] = None,
    status: Annotated[str | None, Query(description="One status or a comma list")] = None,
    tag: Annotated[str | None, Query(max_length=1024)] = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    job_type: Annotated[str | None, Query(max_length=255)] = None,
    created_after: common.QueryTimestamp | None = None,
    created_before: common.QueryTimestamp | None = None,
    limit: int = 50,
    offset: int = 0,
    order_by: str | None = None,
    order_dir: str | None = None,
) -> Response:
    """Job summaries, newest first by default; ``X-Has-More`` tells whether a page follows."""
    call = listing.list_request(
        queue_name=queue_name,
        queue=queue,
        statuses=listing.statuses(status),
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
    return await dlq.list_summaries(request, principal, call)


@router.get("/jobs/stats", responses=common.documented(schemas.JobStats, "Counts per status"))
async def job_stats(
    request: Request, principal: Caller, queue_name: str | None = None, queue: str | None = None
) -> Response:
    """Counts per status (within the key's queue scope)."""
    reply = await request.app.state.core.call(
        principal.tenant,
        "GetJobStats",
        pb.JobStatsRequest(queue_name=listing.queue_filter(queue_name, queue)),
    )
    return convert.json_response(convert.job_stats(reply))


@router.get(
    "/jobs/status", responses=common.documented(list[schemas.JobStatusRow], "The known jobs")
)
async def batch_status(request: Request, principal: Caller, ids: str = "") -> Response:
    """Status of up to 100 jobs (``?ids=a,b,c``); unknown ids are left out."""
    job_ids = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
    if len(job_ids) > MAX_STATUS_IDS:
        raise errors.ValidationError(f"Maximum {MAX_STATUS_IDS} job IDs allowed per request")
    if not job_ids:
        return convert.json_response([])
    for job_id in job_ids:
        common.path_id(job_id, "ids")
    reply = await request.app.state.core.call(
        principal.tenant, "BatchStatus", pb.BatchStatusRequest(job_ids=job_ids)
    )
    return convert.json_response([convert.job_status(j) for j in reply.jobs])


# -- REST workers ----------------------------------------------------------


@router.post(
    "/jobs/claim",
    openapi_extra=common.openapi_body(schemas.ClaimJobs),
    responses=common.documented(schemas.ClaimedJobs, "The leased jobs"),
)
async def claim_jobs(request: Request, principal: Caller) -> Response:
    """Lease up to ``limit`` ready jobs of a queue to a worker (``{jobs: []}`` when paused)."""
    body = common.parse_body(schemas.ClaimJobs, await request.body())
    principal.require_queue(body.queue_name)
    settings = request.app.state.settings
    wait_ms = body.wait_ms or 0
    reply = await request.app.state.core.call(
        principal.tenant,
        "ClaimJobs",
        pb.ClaimJobsRequest(
            queue_name=body.queue_name,
            worker_id=body.worker_id,
            limit=body.limit or 1,
            lease_duration_secs=body.lease_duration_secs or settings.worker_lease_duration_secs,
            wait_ms=wait_ms,
        ),
        timeout=wait_ms / 1000 + CLAIM_DEADLINE_MARGIN_S if wait_ms else None,
    )
    return convert.json_response({"jobs": [convert.claimed_job(j) for j in reply.jobs]})


def _lease(job_id: str, lease_id: str | None, action: str) -> str:
    """The lease to fence a settlement with.

    Missing lease_id → 409 LEASE_EXPIRED, not 422: upstream's REST model has
    ``lease_id: Option<String>`` and its fenced UPDATE can never match a NULL
    lease, so the newer server answers 409 LEASE_EXPIRED (API.md §3.4; the
    SDK's "422" is unverified, SDK.md §9 item 13). It is also the answer the
    SDK worker handles: "lease lost", stop acking that execution.
    """
    common.path_id(job_id, "job_id")
    if not lease_id:
        raise errors.LeaseExpired(
            f"lease_id is required to {action} a job; this worker holds no lease on it"
        )
    return lease_id


@router.post(
    "/jobs/{job_id}/complete",
    openapi_extra=common.openapi_body(schemas.CompleteJob),
    responses=common.documented(common.Success, "Done"),
)
async def complete_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Settle a leased job as completed (lease-fenced)."""
    body = common.parse_body(schemas.CompleteJob, await request.body())
    lease_id = _lease(job_id, body.lease_id, "complete")
    result = (
        b""
        if body.result is None
        else common.dump_payload(
            body.result, request.app.state.settings.max_payload_bytes, "result"
        )
    )
    await request.app.state.completions.complete(
        principal.tenant,
        pb.CompleteJobRequest(
            job_id=job_id, worker_id=body.worker_id, lease_id=lease_id, result=result
        ),
    )
    return convert.raw_json_response(convert.SUCCESS)


@router.post(
    "/jobs/{job_id}/fail",
    openapi_extra=common.openapi_body(schemas.FailJob),
    responses=common.documented(common.Success, "Done"),
)
async def fail_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Report a failure: retried with backoff, or dead-lettered when out of retries."""
    body = common.parse_body(schemas.FailJob, await request.body())
    lease_id = _lease(job_id, body.lease_id, "fail")
    await request.app.state.core.call(
        principal.tenant,
        "FailJob",
        pb.FailJobRequest(
            job_id=job_id,
            worker_id=body.worker_id,
            lease_id=lease_id,
            error=body.error,
            retry=body.retry,
        ),
    )
    return convert.raw_json_response(convert.SUCCESS)


@router.post(
    "/jobs/{job_id}/heartbeat",
    openapi_extra=common.openapi_body(schemas.HeartbeatJob),
    responses=common.documented(common.Success, "Done"),
)
async def heartbeat_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Extend a job's lease to now + ``lease_duration_secs``."""
    body = common.parse_body(schemas.HeartbeatJob, await request.body())
    lease_id = _lease(job_id, body.lease_id, "heartbeat")
    await request.app.state.core.call(
        principal.tenant,
        "HeartbeatJob",
        pb.HeartbeatJobRequest(
            job_id=job_id,
            worker_id=body.worker_id,
            lease_id=lease_id,
            lease_duration_secs=body.lease_duration_secs
            or request.app.state.settings.worker_lease_duration_secs,
        ),
    )
    return convert.raw_json_response(convert.SUCCESS)


# -- one job ---------------------------------------------------------------


@router.get("/jobs/{job_id}", responses=common.documented(schemas.Job, "The job"))
async def get_job(job_id: str, request: Request, principal: Caller) -> Response:
    """The full job."""
    reply = await request.app.state.core.call(
        principal.tenant, "GetJob", pb.JobRef(job_id=common.path_id(job_id, "job_id"))
    )
    return convert.json_response(convert.job(reply))


@router.delete("/jobs/{job_id}", status_code=204)
async def cancel_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Cancel a pending or scheduled job (409 in any other state)."""
    await request.app.state.core.call(
        principal.tenant, "CancelJob", pb.JobRef(job_id=common.path_id(job_id, "job_id"))
    )
    return Response(status_code=204)


@router.post(
    "/jobs/{job_id}/retry", responses=common.documented(schemas.Job, "The job, pending again")
)
async def retry_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Re-run a failed or dead-lettered job now (retry count reset)."""
    reply = await request.app.state.core.call(
        principal.tenant, "RetryJob", pb.JobRef(job_id=common.path_id(job_id, "job_id"))
    )
    return convert.json_response(convert.job(reply))


@router.put(
    "/jobs/{job_id}/priority",
    openapi_extra=common.openapi_body(schemas.BoostPriority),
    responses=common.documented(schemas.PriorityChanged, "Old and new priority"),
)
async def boost_priority(job_id: str, request: Request, principal: Caller) -> Response:
    """Change the priority of a job that has not started yet."""
    body = common.parse_body(schemas.BoostPriority, await request.body())
    reply = await request.app.state.core.call(
        principal.tenant,
        "BoostPriority",
        pb.BoostPriorityRequest(job_id=common.path_id(job_id, "job_id"), priority=body.priority),
    )
    return convert.json_response(
        {
            "job_id": reply.job_id,
            "old_priority": reply.old_priority,
            "new_priority": reply.new_priority,
        }
    )


@router.get(
    "/jobs/{job_id}/history",
    responses=common.documented(list[schemas.JobEvent], "Lifecycle events"),
)
async def job_history(
    job_id: str,
    request: Request,
    principal: Caller,
    order_dir: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Response:
    """The job's lifecycle events, oldest first by default (limit clamped 1..500)."""
    reply = await request.app.state.core.call(
        principal.tenant,
        "GetJobHistory",
        pb.JobHistoryRequest(
            job_id=common.path_id(job_id, "job_id"),
            limit=listing.clamp(limit, 1, 500),
            offset=listing.page_offset(offset),
            order_dir="desc" if (order_dir or "").lower() == "desc" else "asc",
        ),
    )
    return convert.json_response(
        [convert.job_event(e) for e in reply.events],
        headers=convert.has_more_headers(reply.has_more),
    )


# -- dependencies of one job (workflows, API.md §4) ------------------------------------


def _dependency_json(d: pb.JobDependency) -> dict[str, str]:
    return {"job_id": d.job_id, "queue_name": d.queue_name, "status": d.status}


@router.get(
    "/jobs/{job_id}/dependencies",
    responses=common.documented(workflow_schemas.JobDependencies, "Both directions"),
)
async def get_job_dependencies(job_id: str, request: Request, principal: Caller) -> Response:
    """What the job waits for, what waits for it, and whether it may run."""
    reply = await request.app.state.core.call(
        principal.tenant, "GetJobDependencies", pb.JobRef(job_id=common.path_id(job_id, "job_id"))
    )
    return convert.json_response(
        {
            "job_id": reply.job_id,
            "dependencies": [_dependency_json(d) for d in reply.dependencies],
            "dependents": [_dependency_json(d) for d in reply.dependents],
            "dependency_mode": reply.dependency_mode or "all",
            "dependencies_met": reply.dependencies_met,
        }
    )


@router.post(
    "/jobs/{job_id}/dependencies",
    openapi_extra=common.openapi_body(workflow_schemas.AddDependencies),
    responses=common.documented(workflow_schemas.DependenciesAdded, "Edges added"),
)
async def add_job_dependencies(job_id: str, request: Request, principal: Caller) -> Response:
    """Make a waiting job also wait for ``depends_on`` (404 if any is unknown; self-
    dependencies and edges closing a cycle are skipped)."""
    body = common.parse_body(workflow_schemas.AddDependencies, await request.body())
    reply = await request.app.state.core.call(
        principal.tenant,
        "AddJobDependencies",
        pb.AddJobDependenciesRequest(
            job_id=common.path_id(job_id, "job_id"),
            depends_on=body.depends_on,
            dependency_mode=body.dependency_mode or "all",
        ),
    )
    return convert.json_response(
        {
            "job_id": reply.job_id,
            "dependencies_added": reply.dependencies_added,
            "dependencies_met": reply.dependencies_met,
        }
    )
