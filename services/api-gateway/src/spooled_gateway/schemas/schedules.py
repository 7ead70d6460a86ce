"""Response bodies of ``/schedules`` (API.md §8), and the policy values they share with
the request bodies (which live with the routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from spooled_gateway.schemas.common import ResponseModel

MissedRunPolicy = Literal["skip", "catch_up"]
OverlapPolicy = Literal["allow", "skip"]


class ScheduleCreated(ResponseModel):
    """``POST /schedules``: upstream answers only these four fields."""

    id: str
    name: str
    cron_expression: str
    next_run_at: datetime | None


class Schedule(ResponseModel):
    id: str
    organization_id: str
    name: str
    description: str | None
    cron_expression: str
    timezone: str
    queue_name: str
    #: Any JSON; each job's payload, verbatim.
    payload_template: Any
    priority: int
    max_retries: int
    timeout_seconds: int
    is_active: bool
    last_run_at: datetime | None
    #: Null while paused or when the expression never fires again.
    next_run_at: datetime | None
    run_count: int
    tags: Any
    metadata: Any
    created_at: datetime
    updated_at: datetime
    missed_run_policy: MissedRunPolicy
    catch_up_limit: int
    overlap_policy: OverlapPolicy


class ScheduleTriggered(ResponseModel):
    job_id: str
    triggered_at: datetime | None


class ScheduleRun(ResponseModel):
    """A row of ``GET /schedules/{id}/history``."""

    id: str
    schedule_id: str
    job_id: str | None
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    error_message: str | None
    started_at: datetime
    completed_at: datetime | None
    #: The cron tick this run stands for; null for a summary of missed ticks.
    scheduled_for: datetime | None
    kind: Literal["cron", "manual", "missed"]
