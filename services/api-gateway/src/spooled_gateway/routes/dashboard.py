"""``GET /api/v1/dashboard`` (API.md §11.4) and the operator console's extra reads.

``/dashboard`` keeps the upstream shape — ``system``, ``jobs``, ``queues``
(≤ 20 by default), ``workers``, ``recent_activity`` — and adds fields old
clients ignore: ``jobs.scheduled``/``cancelled``, per-queue ``scheduled``,
``deadletter``, ``completed_24h``, ``failed_24h``, and ``throughput`` (jobs
created/completed/failed per minute). ``/dashboard/workers`` lists workers
with the jobs each one holds right now.
"""

from __future__ import annotations

import time
from collections import defaultdict
from importlib import metadata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.routes import health
from spooled_gateway.schemas import common
from spooled_gateway.schemas import dashboard as schemas

router = APIRouter(tags=["dashboard"])

Caller = Annotated[Principal, Depends(require_principal)]

#: Processing jobs read for /dashboard/workers (one page of the busiest org).
MAX_CURRENT_JOBS = 500
WORKERS_LIMIT = 100
#: queue-core's largest ListJobs page.
PAGE = 100


def _version() -> str:
    try:
        return metadata.version("spooled-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _system(request: Request, database: bool) -> dict[str, Any]:
    uptime = time.monotonic() - health.PROCESS_STARTED
    return {
        "version": _version(),
        "uptime_seconds": int(uptime),
        "started_at": convert.iso(int(time.time() - uptime), 0),
        "database_status": "healthy" if database else "unhealthy",
        # Caches are in-process (Redis is optional and not used here).
        "cache_status": "healthy",
        "environment": request.app.state.settings.environment,
    }


def _jobs(d: pb.Dashboard) -> dict[str, Any]:
    names = ("total", "pending", "processing", "completed_24h", "failed_24h", "deadletter")
    out: dict[str, Any] = {name: getattr(d, name) for name in names}
    out.update(
        avg_wait_time_ms=round(d.avg_wait_time_ms, 1),
        avg_processing_time_ms=round(d.avg_processing_time_ms, 1),
        scheduled=d.scheduled,
        cancelled=d.cancelled,
    )
    return out


def _queue(q: pb.DashboardQueue) -> dict[str, Any]:
    return {
        "name": q.name,
        "pending": q.pending,
        "processing": q.processing,
        "paused": q.paused,
        "scheduled": q.scheduled,
        "deadletter": q.deadletter,
        "completed_24h": q.completed_24h,
        "failed_24h": q.failed_24h,
    }


def summary(request: Request, d: pb.Dashboard, database: bool) -> dict[str, Any]:
    return {
        "system": _system(request, database),
        "jobs": _jobs(d),
        "queues": [_queue(q) for q in d.queues],
        "workers": {
            "total": d.workers_total,
            "healthy": d.workers_healthy,
            "unhealthy": d.workers_unhealthy,
        },
        "recent_activity": {
            "jobs_created_1h": d.jobs_created_1h,
            "jobs_completed_1h": d.jobs_completed_1h,
            "jobs_failed_1h": d.jobs_failed_1h,
        },
        "throughput": [
            {
                "minute": convert.ts(p, "minute"),
                "created": p.created,
                "completed": p.completed,
                "failed": p.failed,
            }
            for p in d.throughput
        ],
    }


@router.get("/dashboard", responses=common.documented(schemas.Dashboard, "The overview"))
async def dashboard(
    request: Request,
    principal: Caller,
    queue_limit: Annotated[int, Query(ge=1, le=100)] = 20,
    throughput_minutes: Annotated[int, Query(ge=1, le=1440)] = 60,
) -> Response:
    """System, job counts and latency, busiest queues, workers and recent activity."""
    reply = await request.app.state.core.call(
        principal.tenant,
        "GetDashboard",
        pb.DashboardRequest(queue_limit=queue_limit, throughput_minutes=throughput_minutes),
    )
    database = await health.database_ok(request)
    return convert.json_response(summary(request, reply, database))


async def _running_jobs(request: Request, principal: Principal) -> list[pb.Job]:
    """Processing jobs, page by page (queue-core pages at 100), up to MAX_CURRENT_JOBS."""
    found: list[pb.Job] = []
    while len(found) < MAX_CURRENT_JOBS:
        page = await request.app.state.core.call(
            principal.tenant,
            "ListJobs",
            pb.ListJobsRequest(statuses=["processing"], limit=PAGE, offset=len(found)),
        )
        found.extend(page.jobs)
        if not page.has_more:
            break
    return found


@router.get(
    "/dashboard/workers",
    responses=common.documented(list[schemas.DashboardWorker], "Workers and their jobs"),
)
async def dashboard_workers(request: Request, principal: Caller) -> Response:
    """Workers (newest heartbeat first), each with the ids of the jobs it holds now."""
    core = request.app.state.core
    workers = await core.call(
        principal.tenant, "ListWorkers", pb.ListWorkersRequest(limit=WORKERS_LIMIT)
    )
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for j in await _running_jobs(request, principal):
        if j.HasField("assigned_worker_id"):
            held[j.assigned_worker_id].append(
                {
                    "id": j.id,
                    "queue_name": j.queue_name,
                    "started_at": convert.ts(j, "started_at"),
                    "lease_expires_at": convert.ts(j, "lease_expires_at"),
                }
            )
    out = []
    for w in workers.workers:
        row = convert.worker_summary(w)
        row["queue_names"] = list(w.queue_names) or [w.queue_name]
        row["current_job_ids"] = [j["id"] for j in held.get(w.id, [])]
        row["current_job_list"] = held.get(w.id, [])
        out.append(row)
    return convert.json_response(out)
