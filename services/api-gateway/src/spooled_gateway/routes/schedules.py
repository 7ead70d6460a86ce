"""``/schedules``: cron schedules, pause/resume, manual trigger, run history (API.md §8).

The scheduler service owns schedules; this module validates request shapes,
checks the key's queue scope and the plan cap, and renders the upstream JSON.
Cron and time-zone rules (400 "Invalid cron expression: …", "Unknown
timezone …") come from the scheduler, which owns their semantics.

Beyond upstream: ``missed_run_policy`` (``skip`` | ``catch_up``),
``catch_up_limit`` and ``overlap_policy`` (``allow`` | ``skip``) on create and
update, echoed in every Schedule; ``queue_name``/``is_active``/``offset``
filters on the list (upstream ignores them); history rows also carry
``scheduled_for`` and ``kind``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StringConstraints
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import scheduler_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.orgs import plans
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import schedules as schemas
from spooled_gateway.schemas.schedules import MissedRunPolicy, OverlapPolicy

router = APIRouter(tags=["schedules"])

Caller = Annotated[Principal, Depends(require_principal)]

#: Upstream: lists default to 100 (max 500); history to 50 (max 500).
LIST_DEFAULT, HISTORY_DEFAULT, MAX_LIMIT = 100, 50, 500

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=1000)]
Cron = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Timezone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CatchUpLimit = Annotated[int, Field(ge=1, le=1000)]


class CreateSchedule(common.RequestModel):
    name: Name
    description: Description | None = None
    cron_expression: Cron
    timezone: Timezone | None = None
    queue_name: common.QueueName
    #: Any JSON (required, null included); becomes each job's payload verbatim.
    payload_template: Any
    priority: common.Priority | None = None
    max_retries: common.MaxRetries | None = None
    timeout_seconds: common.TimeoutSecs | None = None
    tags: common.JsonDoc = None
    #: Any JSON, stored and returned as is.
    metadata: Any = None
    missed_run_policy: MissedRunPolicy | None = None
    catch_up_limit: CatchUpLimit | None = None
    overlap_policy: OverlapPolicy | None = None


class UpdateSchedule(common.RequestModel):
    """Every field optional; null or absent keeps the stored value."""

    name: Name | None = None
    description: Description | None = None
    cron_expression: Cron | None = None
    timezone: Timezone | None = None
    #: Accepted for SDK compatibility and ignored: a schedule's queue is fixed.
    queue_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    payload_template: Any = None
    priority: common.Priority | None = None
    max_retries: common.MaxRetries | None = None
    timeout_seconds: common.TimeoutSecs | None = None
    tags: common.JsonDoc = None
    metadata: Any = None
    is_active: bool | None = None
    missed_run_policy: MissedRunPolicy | None = None
    catch_up_limit: CatchUpLimit | None = None
    overlap_policy: OverlapPolicy | None = None


# -- rendering -------------------------------------------------------------------


def schedule_json(s: pb.Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "organization_id": s.organization_id,
        "name": s.name,
        "description": convert.opt(s, "description"),
        "cron_expression": s.cron_expression,
        "timezone": s.timezone,
        "queue_name": s.queue_name,
        "payload_template": convert.doc(s.payload_template),
        "priority": s.priority,
        "max_retries": s.max_retries,
        "timeout_seconds": s.timeout_seconds,
        "is_active": s.is_active,
        "last_run_at": convert.ts(s, "last_run_at"),
        "next_run_at": convert.ts(s, "next_run_at"),
        "run_count": s.run_count,
        "tags": convert.doc(s.tags),
        "metadata": convert.doc(s.metadata),
        "created_at": convert.ts(s, "created_at"),
        "updated_at": convert.ts(s, "updated_at"),
        "missed_run_policy": s.missed_run_policy,
        "catch_up_limit": s.catch_up_limit,
        "overlap_policy": s.overlap_policy,
    }


def run_json(r: pb.ScheduleRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "schedule_id": r.schedule_id,
        "job_id": convert.opt(r, "job_id"),
        "status": r.status,
        "error_message": convert.opt(r, "error_message"),
        "started_at": convert.ts(r, "started_at"),
        "completed_at": convert.ts(r, "completed_at"),
        "scheduled_for": convert.ts(r, "scheduled_for"),
        "kind": r.kind,
    }


# -- helpers -----------------------------------------------------------------------


def _doc(value: Any, field: str) -> bytes:
    return common.dump_doc(value, field) if value is not None else b""


def _payload(request: Request, value: Any) -> bytes:
    return common.dump_payload(
        value, request.app.state.settings.max_payload_bytes, "payload_template"
    )


async def _call(request: Request, principal: Principal, method: str, message: Any) -> Any:
    """Call the scheduler; its plan-cap error gains the caller's plan and upgrade path."""
    try:
        return await request.app.state.scheduler.call(principal.tenant, method, message)
    except errors.QuotaExceeded as exc:
        if exc.extra.get("resource") != "schedules":
            raise
        raise plans.quota_exceeded(
            "schedules",
            int(exc.extra.get("current", 0)),
            int(exc.extra.get("limit", 0)),
            principal.limits.tier,
        ) from None


def _cap(principal: Principal) -> int | None:
    """The plan's cap on active schedules (None = unlimited), checked by the scheduler."""
    return principal.limits.max_schedules


def _clamp(value: int, default: int) -> int:
    return min(max(value, 1), MAX_LIMIT) if value else default


# -- routes ------------------------------------------------------------------------


@router.post(
    "/schedules",
    status_code=201,
    openapi_extra=common.openapi_body(CreateSchedule),
    responses=common.documented(schemas.ScheduleCreated, "Created", 201),
)
async def create_schedule(request: Request, principal: Caller) -> Response:
    """Create a schedule; 201 ``{id, name, cron_expression, next_run_at}``."""
    body = common.parse_body(CreateSchedule, await request.body())
    principal.require_queue(body.queue_name)
    spec = pb.ScheduleSpec(
        name=body.name,
        description=body.description,
        cron_expression=body.cron_expression,
        timezone=body.timezone or "UTC",
        queue_name=body.queue_name,
        payload_template=_payload(request, body.payload_template),
        priority=body.priority,
        max_retries=body.max_retries,
        timeout_seconds=body.timeout_seconds,
        tags=_doc(body.tags, "tags"),
        metadata=_doc(body.metadata, "metadata"),
        missed_run_policy=body.missed_run_policy,
        catch_up_limit=body.catch_up_limit,
        overlap_policy=body.overlap_policy,
    )
    s = await _call(
        request,
        principal,
        "CreateSchedule",
        pb.CreateScheduleRequest(schedule=spec, max_active_schedules=_cap(principal)),
    )
    return convert.json_response(
        {
            "id": s.id,
            "name": s.name,
            "cron_expression": s.cron_expression,
            "next_run_at": convert.ts(s, "next_run_at"),
        },
        201,
    )


@router.get(
    "/schedules", responses=common.documented(list[schemas.Schedule], "Schedules, newest first")
)
async def list_schedules(
    request: Request,
    principal: Caller,
    limit: int = LIST_DEFAULT,
    offset: int = 0,
    queue_name: str | None = None,
    is_active: bool | None = None,
) -> Response:
    """Schedules, newest first; ``limit`` is clamped to 1..500."""
    reply = await _call(
        request,
        principal,
        "ListSchedules",
        pb.ListSchedulesRequest(
            queue_name=common.path_queue_name(queue_name) if queue_name else None,
            is_active=is_active,
            limit=_clamp(limit, LIST_DEFAULT),
            offset=listing.page_offset(offset),
        ),
    )
    return convert.json_response([schedule_json(s) for s in reply.schedules])


@router.get(
    "/schedules/{schedule_id}", responses=common.documented(schemas.Schedule, "The schedule")
)
async def get_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    ref = pb.ScheduleRef(id=common.path_id(schedule_id))
    return convert.json_response(schedule_json(await _call(request, principal, "GetSchedule", ref)))


@router.put(
    "/schedules/{schedule_id}",
    openapi_extra=common.openapi_body(UpdateSchedule),
    responses=common.documented(schemas.Schedule, "The schedule after the update"),
)
async def update_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    """Change any field but ``queue_name``; a new cron or timezone moves ``next_run_at``."""
    body = common.parse_optional_body(UpdateSchedule, await request.body())
    message = pb.UpdateScheduleRequest(
        id=common.path_id(schedule_id),
        name=body.name,
        description=body.description,
        cron_expression=body.cron_expression,
        timezone=body.timezone,
        payload_template=(
            _payload(request, body.payload_template) if body.payload_template is not None else None
        ),
        priority=body.priority,
        max_retries=body.max_retries,
        timeout_seconds=body.timeout_seconds,
        tags=_doc(body.tags, "tags") if body.tags is not None else None,
        metadata=_doc(body.metadata, "metadata") if body.metadata is not None else None,
        is_active=body.is_active,
        missed_run_policy=body.missed_run_policy,
        catch_up_limit=body.catch_up_limit,
        overlap_policy=body.overlap_policy,
        max_active_schedules=_cap(principal),
    )
    return convert.json_response(
        schedule_json(await _call(request, principal, "UpdateSchedule", message))
    )


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    await _call(
        request, principal, "DeleteSchedule", pb.ScheduleRef(id=common.path_id(schedule_id))
    )
    return Response(status_code=204)


@router.post(
    "/schedules/{schedule_id}/pause",
    responses=common.documented(schemas.Schedule, "The schedule, inactive"),
)
async def pause_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    """Stop firing until resumed (any request body is ignored)."""
    ref = pb.ScheduleRef(id=common.path_id(schedule_id))
    return convert.json_response(
        schedule_json(await _call(request, principal, "PauseSchedule", ref))
    )


@router.post(
    "/schedules/{schedule_id}/resume",
    responses=common.documented(schemas.Schedule, "The schedule, active"),
)
async def resume_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    """Fire again from the next tick after now; ticks missed while paused are not fired."""
    message = pb.ResumeScheduleRequest(
        id=common.path_id(schedule_id), max_active_schedules=_cap(principal)
    )
    return convert.json_response(
        schedule_json(await _call(request, principal, "ResumeSchedule", message))
    )


@router.post(
    "/schedules/{schedule_id}/trigger",
    responses=common.documented(schemas.ScheduleTriggered, "The enqueued job"),
)
async def trigger_schedule(schedule_id: str, request: Request, principal: Caller) -> Response:
    """Enqueue one job from the template now; ``{job_id, triggered_at}``."""
    ref = pb.ScheduleRef(id=common.path_id(schedule_id))
    reply = await _call(request, principal, "TriggerSchedule", ref)
    return convert.json_response(
        {"job_id": reply.job_id, "triggered_at": convert.ts(reply, "triggered_at")}
    )


@router.get(
    "/schedules/{schedule_id}/history",
    responses=common.documented(list[schemas.ScheduleRun], "Runs, newest first"),
)
async def schedule_history(
    schedule_id: str, request: Request, principal: Caller, limit: int = HISTORY_DEFAULT
) -> Response:
    """Runs, newest first; ``limit`` is clamped to 1..500."""
    message = pb.ScheduleHistoryRequest(
        id=common.path_id(schedule_id), limit=_clamp(limit, HISTORY_DEFAULT)
    )
    reply = await _call(request, principal, "GetScheduleHistory", message)
    return convert.json_response([run_json(r) for r in reply.runs])
