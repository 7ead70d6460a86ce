"""Helpers for the scheduler tests (imported by name; ``tests/`` is on sys.path)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from spooled_common import errors
from spooled_common.db import maintenance_tx
from spooled_scheduler.app import build_loop
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.firing.loop import FiringLoop
from spooled_scheduler.queue_core import JobRequest, QueueCorePort
from spooled_scheduler.schedules.models import ScheduleFields
from spooled_scheduler.settings import SchedulerSettings

INTERNAL_TOKEN = "sched-test-" + secrets.token_hex(6)
#: A Sunday well away from any DST change.
T0 = datetime(2026, 6, 7, 12, 0, 0, tzinfo=UTC)


def scheduler_settings(dsn: str, **env: Any) -> SchedulerSettings:
    values: dict[str, Any] = {
        "DATABASE_URL": dsn,
        "SCHEDULER_GRPC_PORT": 0,
        "SCHEDULER_HTTP_PORT": 0,
        "SCHEDULER_GRPC_HOST": "127.0.0.1",
        "SCHEDULER_HTTP_HOST": "127.0.0.1",
        "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "SCHEDULER_LEASE_TTL_SECS": 10,
        "SCHEDULER_MISFIRE_GRACE_SECS": 60,
        "SCHEDULER_POLL_INTERVAL_SECS": 1,
        "DATABASE_MIN_CONNECTIONS": 1,
        "DATABASE_MAX_CONNECTIONS": 4,
    }
    values.update(env)
    return SchedulerSettings(**values)


def replica(
    pool: asyncpg.Pool, dsn: str, clock: ManualClock, core: QueueCorePort, name: str, **env: Any
) -> FiringLoop:
    """One scheduler replica's firing loop (driven by hand with ``round()``)."""
    return build_loop(pool, scheduler_settings(dsn, SCHEDULER_INSTANCE_ID=name, **env), clock, core)


def fields(cron: str = "*/5 * * * * *", **kw: Any) -> ScheduleFields:
    values: dict[str, Any] = {
        "name": "nightly",
        "cron_expression": cron,
        "queue_name": "cron-q",
        "payload_template": '{"task": "report"}',
    }
    values.update(kw)
    return ScheduleFields(**values)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RecordingQueueCore:
    """QueueCorePort in memory, for unit tests of the firing logic only.

    Idempotent like the real one, with settable job statuses, an
    "unavailable" switch and a queue that rejects jobs (a permanent 400).
    """

    calls: list[tuple[str, JobRequest]] = field(default_factory=list)
    jobs: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False
    reject_queue: str | None = None

    async def create_job(self, org_id: str, job: JobRequest) -> str:
        if self.unavailable:
            raise errors.ServiceUnavailable()
        if job.queue_name == self.reject_queue:
            raise errors.ValidationError(f"queue '{job.queue_name}' rejects jobs")
        self.calls.append((org_id, job))
        key = (org_id, job.idempotency_key)
        if key not in self.jobs:
            self.jobs[key] = str(uuid.uuid4())
            self.statuses[self.jobs[key]] = "pending"
        return self.jobs[key]

    async def job_status(self, org_id: str, job_id: str) -> str | None:
        if self.unavailable:
            raise errors.ServiceUnavailable()
        return self.statuses.get(job_id)

    def idempotency_keys(self) -> list[str]:
        return [job.idempotency_key for _, job in self.calls]


async def runs_of(pool: asyncpg.Pool, schedule_id: str) -> list[asyncpg.Record]:
    async with maintenance_tx(pool) as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM scheduler.schedule_runs WHERE schedule_id = $1 "
                "ORDER BY started_at, scheduled_for NULLS FIRST",
                schedule_id,
            )
        )


async def schedule_row(pool: asyncpg.Pool, schedule_id: str) -> asyncpg.Record:
    async with maintenance_tx(pool) as conn:
        return await conn.fetchrow("SELECT * FROM scheduler.schedules WHERE id = $1", schedule_id)


async def core_jobs(pool: asyncpg.Pool, org_id: str) -> list[asyncpg.Record]:
    """queue-core's jobs of an org, read directly (the test's own witness)."""
    async with maintenance_tx(pool) as conn:
        return list(
            await conn.fetch(
                "SELECT id, idempotency_key, status, queue_name, payload, priority, max_retries, "
                "timeout_seconds, tags FROM core.jobs WHERE organization_id = $1 "
                "ORDER BY idempotency_key",
                org_id,
            )
        )
