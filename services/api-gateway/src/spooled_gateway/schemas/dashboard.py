"""Response bodies of ``/dashboard`` (API.md §11.4) and ``/dashboard/workers``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from spooled_gateway.schemas.common import ResponseModel
from spooled_gateway.schemas.workers import WorkerSummary

Health = Literal["healthy", "unhealthy"]


class DashboardSystem(ResponseModel):
    version: str
    uptime_seconds: int
    started_at: datetime
    database_status: Health
    cache_status: Health
    environment: str


class DashboardJobs(ResponseModel):
    total: int
    pending: int
    processing: int
    completed_24h: int
    failed_24h: int
    deadletter: int
    avg_wait_time_ms: float
    avg_processing_time_ms: float
    scheduled: int
    cancelled: int


class DashboardQueue(ResponseModel):
    name: str
    pending: int
    processing: int
    paused: bool
    scheduled: int
    deadletter: int
    completed_24h: int
    failed_24h: int


class DashboardWorkers(ResponseModel):
    total: int
    healthy: int
    unhealthy: int


class RecentActivity(ResponseModel):
    jobs_created_1h: int
    jobs_completed_1h: int
    jobs_failed_1h: int


class ThroughputPoint(ResponseModel):
    """Jobs created, completed and failed in one minute."""

    minute: datetime | None
    created: int
    completed: int
    failed: int


class Dashboard(ResponseModel):
    """``GET /dashboard``: the upstream sections plus ``throughput``."""

    system: DashboardSystem
    jobs: DashboardJobs
    #: The busiest queues (``queue_limit``, 20 by default).
    queues: list[DashboardQueue]
    workers: DashboardWorkers
    recent_activity: RecentActivity
    throughput: list[ThroughputPoint]


class HeldJob(ResponseModel):
    id: str
    queue_name: str
    started_at: datetime | None
    lease_expires_at: datetime | None


class DashboardWorker(WorkerSummary):
    """A row of ``GET /dashboard/workers``: the worker and the jobs it holds now."""

    queue_names: list[str]
    current_job_ids: list[str]
    current_job_list: list[HeldJob]
