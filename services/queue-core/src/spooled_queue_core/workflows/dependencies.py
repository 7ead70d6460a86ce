"""Dependencies of single jobs: ``GET/POST /jobs/{id}/dependencies`` (API.md §4).

Edges live in ``core.job_dependencies`` whoever made them (a workflow, this
API, or ``parent_job_id``), so one rule settles them all: the trigger of
migration 0002 when a dependency reaches a terminal state, and
``core.apply_dependency_state_v1`` here when edges are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import scope
from spooled_queue_core.workflows import models
from spooled_queue_core.workflows import repository as repo

MAX_DEPENDENCIES = 100
#: Dependencies can only be added while the job waits: afterwards they would never apply.
_WAITING = ("pending", "scheduled")


@dataclass(frozen=True, slots=True)
class JobDependencies:
    job_id: str
    dependency_mode: str
    dependencies_met: bool
    #: (job_id, queue_name, status) rows: what the job waits for.
    dependencies: list[asyncpg.Record]
    #: The same for the jobs waiting for this one.
    dependents: list[asyncpg.Record]


@dataclass(frozen=True, slots=True)
class Added:
    job_id: str
    dependencies_added: int
    dependencies_met: bool
    #: The job's status afterwards (``cancelled`` if a dependency already failed).
    status: str


class DependencyService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, tenant: Tenant, job_id: str) -> JobDependencies:
        queues = scope.queues(tenant)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            job = await repo.dependency_job(conn, tenant.org_id, job_id, queues)
            if job is None:
                raise errors.NotFound("Job not found")
            parents = await repo.parents(conn, tenant.org_id, job_id, queues)
            children = await repo.children(conn, tenant.org_id, job_id, queues)
        return JobDependencies(
            job_id, job["dependency_mode"], job["dependencies_met"], parents, children
        )

    async def add(
        self, tenant: Tenant, job_id: str, depends_on: list[str], mode: str = "all"
    ) -> Added:
        """Make ``job_id`` wait for ``depends_on`` too (404 if any is unknown).

        Self-dependencies and edges that would close a cycle are skipped, as
        upstream does; existing edges are kept. ``mode`` becomes the job's mode.
        """
        wanted = list(dict.fromkeys(d for d in depends_on if d))
        if not 0 < len(wanted) <= MAX_DEPENDENCIES:
            raise errors.ValidationError(
                f"depends_on must list 1-{MAX_DEPENDENCIES} job ids",
            )
        if mode not in models.MODES:
            raise errors.ValidationError("dependency_mode must be 'all' or 'any'")
        org, queues = tenant.org_id, scope.queues(tenant)
        async with tenant_tx(self._pool, org) as conn:
            # Dependencies before the dependent, the order every settling
            # transaction locks them in (parent, then its waiting children).
            found = await repo.share_lock(conn, org, [d for d in wanted if d != job_id], queues)
            job = await repo.dependency_job(conn, org, job_id, queues, for_update=True)
            if job is None:
                raise errors.NotFound("Job not found")
            missing = [d for d in wanted if d != job_id and d not in found]
            if missing:
                raise errors.NotFound(
                    f"Dependency job not found: {missing[0]}", details={"missing": missing}
                )
            if job["status"] not in _WAITING:
                raise errors.Conflict(
                    f"Job is already {job['status']}; dependencies can only be added "
                    "before it starts"
                )
            below = await repo.waiting_on(conn, org, job_id)
            edges = [(job_id, d, mode) for d in found if d not in below]
            added = await repo.insert_edges(conn, org, edges)
            await repo.set_mode(conn, org, job_id, mode)
            await repo.apply_dependency_states(conn, org, [job_id])
            after = await repo.dependency_job(conn, org, job_id, None)
        if after is None:  # pragma: no cover - the row is locked by this transaction
            raise errors.NotFound("Job not found")
        return Added(job_id, added, bool(after["dependencies_met"]), str(after["status"]))
