"""Workflow service: create (one transaction), list, get, cancel, retry (API.md §9).

The service owns the transaction (``tenant_tx``). What happens *after* a
workflow job settles — dependents unblocked or cancelled, the workflow's status
and counts, the workflow.completed/failed events — is done by the triggers of
migration 0002 in the settling transaction itself, whichever path settles the
job (worker, reaper, operator).

A key restricted to some queues may create a workflow only when every job sits
in its queues (403), and sees only such workflows (others are 404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import metrics, paging, scope, wakeup
from spooled_queue_core.quota.admission import Admission
from spooled_queue_core.quota.limits import Unmetered
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.workflows import models
from spooled_queue_core.workflows import repository as repo
from spooled_queue_core.workflows.models import CreatedWorkflow, NewWorkflow

NOT_FOUND = "Workflow not found"
LIST_DEFAULT, LIST_MAX = 50, 100
#: Only these can be cancelled: nothing new starts afterwards.
_CANCELLABLE = ("pending", "running")


def quota_exceeded(current: int, limit: int) -> errors.QuotaExceeded:
    """The plan-cap error; the gateway adds ``plan`` and ``upgrade_to``."""
    return errors.QuotaExceeded(
        f"workflows limit reached ({current}/{limit}).",
        extra={
            "error": "limit_exceeded",
            "resource": "workflows",
            "current": current,
            "limit": limit,
        },
    )


@dataclass(frozen=True, slots=True)
class WorkflowDetail:
    workflow: asyncpg.Record
    #: In workflow order, each with its ``workflow_key``.
    jobs: list[asyncpg.Record]
    #: (parent_job_id, child_job_id, dependency_type) rows.
    edges: list[asyncpg.Record]


class WorkflowService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: QueueCoreSettings,
        *,
        channel: str = wakeup.CHANNEL,
        admission: Admission | None = None,
    ) -> None:
        self._pool = pool
        # The same plan admission as single and bulk creates (quota/admission.py).
        self._admission = admission or Admission(Unmetered())
        self._defaults = (settings.default_max_retries, settings.default_timeout_secs)
        self._channel = channel

    async def create(
        self, tenant: Tenant, wf: NewWorkflow, max_active: int | None = None
    ) -> CreatedWorkflow:
        """Store the workflow, its jobs and edges in one transaction, or nothing at all."""
        problem = models.problems(wf)
        if problem:
            raise errors.ValidationError(problem.message, details=problem.details or None)
        for job in wf.jobs:
            scope.require(tenant, job.queue_name)
        workflow_id = str(uuid.uuid4())
        ids = [str(uuid.uuid4()) for _ in wf.jobs]
        largest = max(len(job.payload.encode()) for job in wf.jobs)
        async with (
            self._admission.jobs(tenant, len(ids), largest) as ticket,
            tenant_tx(self._pool, tenant.org_id) as conn,
        ):
            await ticket.check(conn, adding=len(ids), queues={job.queue_name for job in wf.jobs})
            if max_active is not None:
                current = await repo.count_active_locked(conn, tenant.org_id)
                if current + 1 > max_active:
                    raise quota_exceeded(current, max_active)
            await repo.insert_workflow(conn, tenant.org_id, workflow_id, wf)
            await repo.insert_jobs(
                conn, tenant.org_id, workflow_id, wf, ids, self._defaults, self._channel
            )
            await repo.insert_edges(conn, tenant.org_id, models.edges(wf.jobs, ids))
            ticket.admit(len(ids))
        metrics.JOBS_ENQUEUED.inc(len(ids))
        return CreatedWorkflow(
            workflow_id,
            [(job.key, job_id) for job, job_id in zip(wf.jobs, ids, strict=True)],
            "pending",
        )

    async def list_workflows(
        self, tenant: Tenant, *, status: str | None = None, limit: int = 0, offset: int = 0
    ) -> list[asyncpg.Record]:
        if status is not None and status not in models.STATUSES:
            raise errors.ValidationError(
                f"Unknown workflow status: {status} (one of {', '.join(models.STATUSES)})"
            )
        limit = paging.clamp(limit, 1, LIST_MAX, default=LIST_DEFAULT)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.list_workflows(
                conn, tenant.org_id, status, scope.queues(tenant), limit, max(offset, 0)
            )

    async def get(self, tenant: Tenant, workflow_id: str) -> WorkflowDetail:
        """The workflow with its jobs and dependency edges."""
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await self._visible(conn, tenant, workflow_id)
            jobs = await repo.jobs(conn, tenant.org_id, workflow_id)
            edges = await repo.edges(conn, tenant.org_id, workflow_id)
        return WorkflowDetail(row, jobs, edges)

    async def cancel(self, tenant: Tenant, workflow_id: str) -> asyncpg.Record:
        """Cancel the jobs that have not started; running ones finish. 409 once finished."""
        org = tenant.org_id
        async with tenant_tx(self._pool, org) as conn:
            await self._visible(conn, tenant, workflow_id)
            # Job rows before the workflow row (see queries.sql: lock order).
            await repo.lock_jobs(conn, org, workflow_id, ("pending", "scheduled"))
            status = await repo.lock_status(conn, org, workflow_id)
            if status not in _CANCELLABLE:
                raise errors.Conflict(
                    f"Cannot cancel workflow with status '{status}'. "
                    "Only pending or running workflows can be cancelled."
                )
            await repo.mark_cancelled(conn, org, workflow_id)
            await repo.cancel_jobs(conn, org, workflow_id)
            await repo.refresh(conn, org, workflow_id)
            return await self._visible(conn, tenant, workflow_id)

    async def retry(self, tenant: Tenant, workflow_id: str) -> asyncpg.Record:
        """Re-run the failed, dead-lettered and cancelled jobs of a failed workflow.

        Completed jobs keep their results; each re-run job waits for its own
        dependencies again, so the DAG resumes where it broke.
        """
        org = tenant.org_id
        async with tenant_tx(self._pool, org) as conn:
            await self._visible(conn, tenant, workflow_id)
            await repo.lock_jobs(conn, org, workflow_id, ("failed", "deadletter", "cancelled"))
            status = await repo.lock_status(conn, org, workflow_id)
            if status != "failed":
                raise errors.ValidationError(
                    f"Cannot retry workflow with status '{status}'. "
                    "Only failed workflows can be retried."
                )
            reset = await repo.reset_jobs(conn, org, workflow_id)
            await repo.apply_dependency_states(conn, org, reset)
            await repo.refresh(conn, org, workflow_id)
            return await self._visible(conn, tenant, workflow_id)

    @staticmethod
    async def _visible(
        conn: asyncpg.Connection, tenant: Tenant, workflow_id: str
    ) -> asyncpg.Record:
        row = await repo.get(conn, tenant.org_id, workflow_id, scope.queues(tenant))
        if row is None:
            raise errors.NotFound(NOT_FOUND)
        return row
