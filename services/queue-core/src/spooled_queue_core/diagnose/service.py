"""Diagnose one job: gather the facts in one read-only transaction, then apply the rules."""

from __future__ import annotations

import dataclasses

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import scope
from spooled_queue_core.diagnose import repository as repo
from spooled_queue_core.diagnose import rules
from spooled_queue_core.diagnose.models import Diagnosis, Facts, PlanCaps, Policy
from spooled_queue_core.settings import QueueCoreSettings

#: A worker counts as live when heard from within this many heartbeat intervals.
SEEN_WINDOW_HEARTBEATS = 3


def policy_from(settings: QueueCoreSettings) -> Policy:
    return Policy(
        seen_window_secs=settings.heartbeat_interval_secs * SEEN_WINDOW_HEARTBEATS,
        reaper_interval_secs=settings.reaper_interval_secs,
        stale_worker_secs=settings.stale_worker_secs,
    )


class DiagnoseService:
    def __init__(self, pool: asyncpg.Pool, settings: QueueCoreSettings) -> None:
        self._pool = pool
        self._policy = policy_from(settings)

    async def diagnose(
        self, tenant: Tenant, job_id: str, plan: PlanCaps | None = None
    ) -> Diagnosis:
        """The blockers of one job (404 when missing or outside the key's queues)."""
        facts = await self._facts(tenant, job_id, plan or PlanCaps())
        return Diagnosis(
            job_id=facts.job["id"],
            queue_name=facts.job["queue_name"],
            status=facts.job["status"],
            blockers=rules.diagnose(facts, self._policy),
            checked_at=facts.now,
        )

    async def _facts(self, tenant: Tenant, job_id: str, plan: PlanCaps) -> Facts:
        org = tenant.org_id
        async with tenant_tx(self._pool, org) as conn:
            job = await repo.job(conn, org, job_id, scope.queues(tenant))
            if job is None:
                raise errors.NotFound("Job not found")
            status = job["status"]
            facts = Facts(job=dict(job), now=job["checked_at"], plan=plan)
            if status == "processing":
                holder = await repo.lease_holder(conn, org, job["assigned_worker_id"])
                return _with(facts, lease_holder=holder)
            if status in ("deadletter", "failed"):
                reason = await repo.dead_letter_reason(conn, org, job["id"])
                return _with(facts, dead_letter_reason=reason)
            if status == "cancelled":
                event = await repo.last_event(conn, org, job["id"], ["cancelled"])
                return _with(facts, last_event=event)
            if status != "pending" and status != "scheduled":
                return facts
            return _with(
                facts,
                dependencies=await repo.dependencies(conn, org, job),
                workers=await repo.queue_workers(
                    conn, org, job["queue_name"], self._policy.seen_window_secs
                ),
                ahead=await repo.ahead_in_line(conn, org, job),
            )


def _with(facts: Facts, **changes: object) -> Facts:
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]
