"""``/workflows``: DAGs of jobs — create, list, get, cancel, retry (API.md §9).

queue-core owns workflows: it checks the graph (unique keys, known
dependencies, no cycle, at most 100 jobs; 400 and nothing stored otherwise),
stores the workflow, its jobs and edges in one transaction, and keeps status
and counts in step as jobs settle. This module validates shapes, checks the
key's queue scope and the plan cap, and renders the upstream JSON:

* create → **200** ``{workflow_id, job_ids: [{key, job_id}], status}``;
* list, cancel, retry → ``WorkflowResponse`` rows (plus ``cancelled_jobs``);
* get → the newer upstream detail document: ``jobs`` (each also with its
  ``key``), ``dependencies`` and ``progress``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.orgs import plans
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import workflows as schemas

router = APIRouter(tags=["workflows"])

Caller = Annotated[Principal, Depends(require_principal)]

#: Upstream's cap on jobs per workflow.
MAX_JOBS = 100
LIST_DEFAULT, LIST_MAX = 50, 100
_FAILED = ("failed", "deadletter")


# -- rendering -----------------------------------------------------------------------


def workflow_json(w: pb.Workflow) -> dict[str, Any]:
    """``WorkflowResponse`` (list, cancel, retry)."""
    total = w.total_jobs
    return {
        "id": w.id,
        "organization_id": w.organization_id,
        "name": w.name,
        "description": convert.opt(w, "description"),
        "status": w.status,
        "total_jobs": total,
        "completed_jobs": w.completed_jobs,
        "failed_jobs": w.failed_jobs,
        "cancelled_jobs": w.cancelled_jobs,
        "progress_percent": (w.completed_jobs / total * 100.0) if total else 0.0,
        "created_at": convert.ts(w, "created_at"),
        "started_at": convert.ts(w, "started_at"),
        "completed_at": convert.ts(w, "completed_at"),
        "metadata": convert.doc(w.metadata),
    }


def workflow_job_json(j: pb.Job, key: str | None) -> dict[str, Any]:
    """A job of the detail document (upstream's ``JobResponse`` shape, plus key and queue_name)."""
    last_error = convert.opt(j, "last_error")
    finished = convert.ts(j, "completed_at")
    return {
        "id": j.id,
        "organization_id": j.organization_id,
        "key": key,
        "queue": j.queue_name,
        "queue_name": j.queue_name,
        "job_type": "job",
        "payload": convert.doc(j.payload),
        "status": j.status,
        "priority": j.priority,
        "attempt": j.retry_count,
        "max_retries": j.max_retries,
        "backoff_type": "exponential",
        "timeout_ms": j.timeout_seconds * 1000,
        "created_at": convert.ts(j, "created_at"),
        "scheduled_at": convert.ts(j, "scheduled_at"),
        "started_at": convert.ts(j, "started_at"),
        "completed_at": finished,
        "failed_at": finished if j.status in _FAILED else None,
        "next_retry_at": (
            convert.ts(j, "scheduled_at") if j.status == "pending" and j.retry_count else None
        ),
        "result": convert.doc(j.result),
        "error": (
            {"type": "JobError", "message": last_error, "stack": None} if last_error else None
        ),
        "metadata": convert.doc(j.tags),
        "workflow_id": convert.opt(j, "workflow_id"),
        "parent_job_id": convert.opt(j, "parent_job_id"),
        "dependency_mode": j.dependency_mode or "all",
        "dependencies_met": j.dependencies_met,
    }


def detail_json(d: pb.WorkflowDetail) -> dict[str, Any]:
    w = d.workflow
    statuses = [j.status for j in d.jobs]
    return {
        "id": w.id,
        "organization_id": w.organization_id,
        "name": w.name,
        "description": convert.opt(w, "description"),
        "status": w.status,
        "jobs": [workflow_job_json(j, d.job_keys.get(j.id)) for j in d.jobs],
        "dependencies": [
            {
                "parent_job_id": e.parent_job_id,
                "child_job_id": e.child_job_id,
                "dependency_type": e.dependency_type,
            }
            for e in d.dependencies
        ],
        "progress": {
            "total": len(statuses),
            "completed": statuses.count("completed"),
            "failed": sum(s in ("failed", "deadletter", "cancelled") for s in statuses),
            "pending": sum(s in ("pending", "scheduled") for s in statuses),
            "processing": statuses.count("processing"),
        },
        "created_at": convert.ts(w, "created_at"),
        "started_at": convert.ts(w, "started_at"),
        "completed_at": convert.ts(w, "completed_at"),
        "metadata": convert.doc(w.metadata),
    }


# -- helpers -------------------------------------------------------------------------


def _spec(request: Request, i: int, job: schemas.WorkflowJobBody) -> pb.WorkflowJobSpec:
    limit = request.app.state.settings.max_payload_bytes
    return pb.WorkflowJobSpec(
        key=job.key,
        queue_name=job.queue_name,
        payload=common.dump_payload(job.payload, limit, f"jobs.{i}.payload"),
        depends_on=job.depends_on or [],
        dependency_mode=job.dependency_mode or "all",
        priority=job.priority or 0,
        max_retries=job.max_retries,
        timeout_seconds=job.timeout_seconds,
        expires_at=common.to_ts(job.expires_at),
    )


async def _call(request: Request, principal: Principal, method: str, message: Any) -> Any:
    """Call queue-core; its plan-cap error gains the caller's plan and upgrade path."""
    try:
        return await request.app.state.core.call(principal.tenant, method, message)
    except errors.QuotaExceeded as exc:
        if exc.extra.get("resource") != "workflows":
            raise
        raise plans.quota_exceeded(
            "workflows",
            int(exc.extra.get("current", 0)),
            int(exc.extra.get("limit", 0)),
            principal.limits.tier,
        ) from None


def _cap(principal: Principal) -> int | None:
    """The plan's cap on active (pending or running) workflows; None = unlimited.

    0 means the plan has no workflows at all (free tier): 403 FEATURE_DISABLED
    before anything is parsed further, as upstream does.
    """
    cap = principal.limits.max_workflows
    if cap == 0:
        raise plans.feature_disabled("workflows", principal.limits.tier)
    return cap


def _check_job_count(n: int) -> None:
    """Checked before any payload is serialized (queue-core checks again)."""
    if n == 0:
        message = "A workflow must contain at least one job"
    elif n > MAX_JOBS:
        message = f"A workflow can contain at most {MAX_JOBS} jobs (got {n})"
    else:
        return
    raise errors.ValidationError(
        message, details=[{"field": "jobs", "message": message, "code": "LENGTH"}]
    )


def _ref(workflow_id: str) -> pb.WorkflowRef:
    return pb.WorkflowRef(workflow_id=common.path_id(workflow_id, "workflow_id"))


# -- routes --------------------------------------------------------------------------


@router.post(
    "/workflows",
    openapi_extra=common.openapi_body(schemas.CreateWorkflow),
    responses=common.documented(schemas.WorkflowCreated, "Created with all its jobs"),
)
async def create_workflow(request: Request, principal: Caller) -> Response:
    """Create a workflow and all its jobs at once: 200 ``{workflow_id, job_ids, status}``."""
    cap = _cap(principal)
    body = common.parse_body(schemas.CreateWorkflow, await request.body())
    _check_job_count(len(body.jobs))
    for job in body.jobs:
        principal.require_queue(job.queue_name)
    message = pb.CreateWorkflowRequest(
        name=body.name,
        description=body.description,
        metadata=common.dump_doc(body.metadata, "metadata"),
        jobs=[_spec(request, i, job) for i, job in enumerate(body.jobs)],
        max_active_workflows=cap,
    )
    reply = await _call(request, principal, "CreateWorkflow", message)
    return convert.json_response(
        {
            "workflow_id": reply.workflow_id,
            "job_ids": [{"key": j.key, "job_id": j.job_id} for j in reply.job_ids],
            "status": reply.status,
        }
    )


@router.get(
    "/workflows", responses=common.documented(list[schemas.Workflow], "Workflows, newest first")
)
async def list_workflows(
    request: Request,
    principal: Caller,
    status: str | None = None,
    limit: int = LIST_DEFAULT,
    offset: int = 0,
) -> Response:
    """Workflows, newest first; ``limit`` is clamped to 1..100."""
    message = pb.ListWorkflowsRequest(
        status=status or None,
        limit=min(max(limit, 1), LIST_MAX),
        offset=listing.page_offset(offset),
    )
    reply = await _call(request, principal, "ListWorkflows", message)
    return convert.json_response([workflow_json(w) for w in reply.workflows])


@router.get(
    "/workflows/{workflow_id}",
    responses=common.documented(schemas.WorkflowDetail, "Jobs, edges and progress"),
)
async def get_workflow(workflow_id: str, request: Request, principal: Caller) -> Response:
    """The workflow with its jobs, dependency edges and progress."""
    reply = await _call(request, principal, "GetWorkflow", _ref(workflow_id))
    return convert.json_response(detail_json(reply))


@router.post(
    "/workflows/{workflow_id}/cancel",
    responses=common.documented(schemas.Workflow, "The workflow, cancelled"),
)
async def cancel_workflow(workflow_id: str, request: Request, principal: Caller) -> Response:
    """Cancel the jobs that have not started (running ones finish); 409 once finished."""
    reply = await _call(request, principal, "CancelWorkflow", _ref(workflow_id))
    return convert.json_response(workflow_json(reply))


@router.post(
    "/workflows/{workflow_id}/retry",
    responses=common.documented(schemas.Workflow, "The workflow, running again"),
)
async def retry_workflow(workflow_id: str, request: Request, principal: Caller) -> Response:
    """Re-run the failed, dead-lettered and cancelled jobs of a failed workflow (else 400)."""
    reply = await _call(request, principal, "RetryWorkflow", _ref(workflow_id))
    return convert.json_response(workflow_json(reply))
