"""``GET /jobs/{job_id}/diagnose``: why a job is not running (queue-core ``DiagnoseJob``).

The answer names every blocker as ``{code, message, details}`` — the same
shape as an error body, machine-readable code first — with the one to act on
first as ``blocker``. The gateway adds what only it knows: the org's plan
caps, so a worker cap that really is reached shows up as ``PLAN_LIMIT``.

No route-order concern: ``/jobs/{job_id}`` matches one path segment, so it
cannot take ``/jobs/{job_id}/diagnose`` (tests/integration/test_jobs_routing.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.orgs import plans
from spooled_gateway.orgs import service as org_service
from spooled_gateway.schemas import common
from spooled_gateway.schemas import jobs as job_schemas

router = APIRouter(tags=["jobs"])

Caller = Annotated[Principal, Depends(require_principal)]


async def plan_caps(request: Request, principal: Principal) -> pb.PlanCaps:
    """The org's caps that can hold a job back (empty when the plan is unknown)."""
    if principal.plan_tier is None:
        return pb.PlanCaps()
    try:
        org = await org_service.get_org(request.app.state.db, principal.org_id)
    except errors.NotFound:
        return pb.PlanCaps()
    limits = plans.limits_for(org["plan_tier"], org["custom_limits"])
    return pb.PlanCaps(
        tier=limits.tier,
        max_workers=limits.max_workers,
        upgrade_to=plans.upgrade_to(limits.tier),
    )


def blocker(b: pb.Blocker) -> dict[str, Any]:
    return {"code": b.code, "message": b.message, "details": convert.doc(b.details) or {}}


def diagnosis(d: pb.Diagnosis) -> dict[str, Any]:
    found = [blocker(b) for b in d.blockers]
    return {
        "job_id": d.job_id,
        "queue_name": d.queue_name,
        "status": d.status,
        "runnable": d.runnable,
        "blocker": found[0] if found else None,
        "blockers": found,
        "checked_at": convert.ts(d, "checked_at"),
    }


@router.get(
    "/jobs/{job_id}/diagnose",
    responses=common.documented(job_schemas.Diagnosis, "What holds the job back"),
)
async def diagnose_job(job_id: str, request: Request, principal: Caller) -> Response:
    """Why isn't this job running? The exact blocker (queue paused, scheduled for later,
    waiting on a dependency, leased to a worker, expired, plan limit, no worker), or
    READY with its position in line; terminal jobs say how they ended."""
    reply = await request.app.state.core.call(
        principal.tenant,
        "DiagnoseJob",
        pb.DiagnoseJobRequest(
            job_id=common.path_id(job_id, "job_id"), plan=await plan_caps(request, principal)
        ),
    )
    return Response(orjson.dumps(diagnosis(reply)), media_type="application/json")
