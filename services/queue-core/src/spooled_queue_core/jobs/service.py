"""Job service: create (single and bulk, idempotent), reads and operator actions.

The service owns the transaction (``tenant_tx``: RLS on, one org); the
repository only runs SQL. Worker-side claim and settlement live in ``leases``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx
from spooled_common.tenant import Tenant

from spooled_queue_core import metrics, paging, scope, wakeup
from spooled_queue_core.jobs import repository as repo
from spooled_queue_core.jobs.models import STATUSES, Created, JobFilter, NewJob
from spooled_queue_core.quota.admission import Admission, StaleLimits, Ticket
from spooled_queue_core.quota.limits import Unmetered
from spooled_queue_core.settings import QueueCoreSettings

MAX_BATCH_STATUS_IDS = 100
#: Items per CreateJobs call (the public API allows 100; internal callers a bit more).
MAX_BULK = 1000
_PARENT_PROBLEM = "parent_job_id must reference a job in the same organization and queue"
#: The job holding a duplicate idempotency key was deleted between our INSERT and lookup.
_VANISHED = "Failed to create job"
_RETRYABLE = ("failed", "deadletter")
_NOT_RETRYABLE = "Job cannot be retried (not in failed or deadletter state)"


class JobService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: QueueCoreSettings,
        *,
        channel: str = wakeup.CHANNEL,
        admission: Admission | None = None,
    ) -> None:
        self._pool = pool
        self._defaults = (settings.default_max_retries, settings.default_timeout_secs)
        self._channel = channel
        #: Plan limits: every job created here is admitted through it.
        self._admission = admission or Admission(Unmetered())

    # -- create ---------------------------------------------------------------
    async def create(self, tenant: Tenant, job: NewJob) -> Created:
        """Create one job; a known idempotency key returns the existing job."""
        problem = job.problem()
        if problem:
            raise errors.ValidationError(problem)
        scope.require(tenant, job.queue_name)
        [result] = await self.create_many(tenant, [job])
        if result.error == _VANISHED:
            raise errors.ServiceUnavailable(
                "Job creation raced a deletion; retry", headers={"Retry-After": "1"}
            )
        if result.error:
            raise errors.ValidationError(result.error)
        return result

    async def create_many(self, tenant: Tenant, jobs: Sequence[NewJob]) -> list[Created]:
        """Create a batch with one INSERT; each item reports its own outcome.

        Items repeating an idempotency key already used earlier in the batch
        collapse onto that first item (same id, ``created=False``). The batch
        is admitted against the plan as a whole (quota/admission.py): a
        QuotaExceeded or PayloadTooLarge refuses all of it.
        """
        if len(jobs) > MAX_BULK:
            raise errors.ValidationError(f"At most {MAX_BULK} jobs per request")
        results: dict[int, Created] = {}
        first_by_key: dict[str, int] = {}
        todo: list[int] = []
        for i, job in enumerate(jobs):
            problem = job.problem() or _scope_problem(tenant, job.queue_name)
            key = job.idempotency_key
            if problem:
                results[i] = Created(i, error=problem)
            elif key is None or key not in first_by_key:
                if key is not None:
                    first_by_key[key] = i
                todo.append(i)
        if todo:
            todo = await self._known_keys(tenant.org_id, jobs, todo, results)
        if todo:
            results.update(await self._admit_and_insert(tenant, jobs, todo))
        metrics.JOBS_ENQUEUED.inc(sum(r.created for r in results.values()))
        return [
            results.get(i) or _alias(i, jobs[i], first_by_key, results) for i in range(len(jobs))
        ]

    async def _known_keys(
        self, org_id: str, jobs: Sequence[NewJob], todo: list[int], results: dict[int, Created]
    ) -> list[int]:
        """Answer items whose idempotency key already exists; the rest still need creating.

        A retried request whose jobs all exist is answered without touching the
        plan's counters, even when the org is at its limit.
        """
        keys = [k for i in todo if (k := jobs[i].idempotency_key) is not None]
        if not keys:
            return todo
        async with tenant_tx(self._pool, org_id) as conn:
            existing = await repo.ids_by_idempotency_key(conn, org_id, keys)
        left = []
        for i in todo:
            found = existing.get(jobs[i].idempotency_key or "")
            if found is None:
                left.append(i)
            else:
                results[i] = Created(i, found, created=False)
        return left

    async def _admit_and_insert(
        self, tenant: Tenant, jobs: Sequence[NewJob], todo: list[int]
    ) -> dict[int, Created]:
        """Reserve the batch on the daily counter, check the caps and insert in one transaction.

        The reservation travels to billing while the transaction checks and
        inserts (quota/admission.py); the commit waits for it.
        """
        largest = max(len(jobs[i].payload.encode()) for i in todo)
        queues = {jobs[i].queue_name for i in todo}
        async with self._admission.jobs(tenant, len(todo), largest) as ticket:
            try:
                return await self._insert_admitted(tenant, ticket, jobs, todo, queues, True)
            except StaleLimits:
                # The plan changed since its limits were cached: again, under the new ones.
                return await self._insert_admitted(tenant, ticket, jobs, todo, queues, False)

    async def _insert_admitted(
        self,
        tenant: Tenant,
        ticket: Ticket,
        jobs: Sequence[NewJob],
        todo: list[int],
        queues: set[str],
        overlap: bool,
    ) -> dict[int, Created]:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            await ticket.check(conn, adding=len(todo), queues=queues, overlap=overlap)
            out = await self._insert(conn, tenant.org_id, jobs, todo)
            await ticket.confirm()
            ticket.admit(sum(r.created for r in out.values()))
        return out

    async def _insert(
        self, conn: asyncpg.Connection, org_id: str, jobs: Sequence[NewJob], todo: list[int]
    ) -> dict[int, Created]:
        out: dict[int, Created] = {}
        bad_parents = await _parent_problems(conn, org_id, jobs, todo)
        for i in bad_parents:
            out[i] = Created(i, error=_PARENT_PROBLEM)
        ids = {i: str(uuid.uuid4()) for i in todo if i not in bad_parents}
        inserted = await repo.insert(
            conn, org_id, [(ids[i], jobs[i]) for i in ids], self._defaults, self._channel
        )
        skipped = [jobs[i].idempotency_key for i in ids if ids[i] not in inserted]
        existing = (
            await repo.ids_by_idempotency_key(conn, org_id, [k for k in skipped if k is not None])
            if skipped
            else {}
        )
        for i, job_id in ids.items():
            if job_id in inserted:
                out[i] = Created(i, job_id, created=True)
            elif (found := existing.get(jobs[i].idempotency_key or "")) is not None:
                out[i] = Created(i, found, created=False)
            else:
                out[i] = Created(i, error=_VANISHED)
        return out

    # -- reads ------------------------------------------------------------------
    async def get(self, tenant: Tenant, job_id: str) -> asyncpg.Record:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.get(conn, tenant.org_id, job_id, scope.queues(tenant))
        if row is None:
            raise errors.NotFound("Job not found")
        return row

    async def list_jobs(self, tenant: Tenant, f: JobFilter) -> tuple[list[asyncpg.Record], bool]:
        bad = [s for s in f.statuses if s not in STATUSES]
        if bad:
            raise errors.ValidationError(f"Unknown job status: {bad[0]}")
        f = dataclasses.replace(
            f, limit=paging.clamp(f.limit, 1, 100, default=50), offset=max(f.offset, 0)
        )
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            rows = await repo.list_jobs(conn, tenant.org_id, f, scope.queues(tenant))
        return rows[: f.limit], len(rows) > f.limit

    async def batch_status(self, tenant: Tenant, job_ids: list[str]) -> list[asyncpg.Record]:
        if len(job_ids) > MAX_BATCH_STATUS_IDS:
            raise errors.ValidationError(f"At most {MAX_BATCH_STATUS_IDS} job ids per request")
        if not job_ids:
            return []
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.by_ids(conn, tenant.org_id, job_ids, scope.queues(tenant))

    async def stats(self, tenant: Tenant, queue: str | None) -> asyncpg.Record:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            return await repo.stats(conn, tenant.org_id, queue, scope.queues(tenant))

    async def history(
        self, tenant: Tenant, job_id: str, *, limit: int = 0, offset: int = 0, order_dir: str = ""
    ) -> tuple[list[asyncpg.Record], bool]:
        limit = paging.clamp(limit, 1, 500, default=50)
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            await self._visible(conn, tenant, job_id)
            rows = await repo.history(conn, tenant.org_id, job_id, limit, max(offset, 0), order_dir)
        return rows[:limit], len(rows) > limit

    # -- operator actions -------------------------------------------------------
    async def cancel(self, tenant: Tenant, job_id: str) -> asyncpg.Record:
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.cancel(conn, tenant.org_id, job_id, scope.queues(tenant))
            if row is None:
                await self._visible(conn, tenant, job_id)
                raise errors.Conflict("Job cannot be cancelled (not in pending or scheduled state)")
        return row

    async def retry(self, tenant: Tenant, job_id: str) -> asyncpg.Record:
        """Back to pending: the job re-enters the active set, so it is admitted like a new one."""
        async with (
            self._admission.jobs(tenant, 1) as ticket,
            tenant_tx(self._pool, tenant.org_id) as conn,
        ):
            if await self._visible(conn, tenant, job_id) not in _RETRYABLE:
                raise errors.Conflict(_NOT_RETRYABLE)
            await ticket.check(conn, adding=1)
            row = await repo.retry(conn, tenant.org_id, job_id, scope.queues(tenant), self._channel)
            if row is None:  # changed state since we looked
                raise errors.Conflict(_NOT_RETRYABLE)
            ticket.admit(1)
        return row

    async def boost(self, tenant: Tenant, job_id: str, priority: int) -> asyncpg.Record:
        if not -100 <= priority <= 100:
            raise errors.ValidationError("priority must be between -100 and 100")
        async with tenant_tx(self._pool, tenant.org_id) as conn:
            row = await repo.boost(conn, tenant.org_id, job_id, priority, scope.queues(tenant))
        if row is None:
            raise errors.NotFound("Job not found or not in pending/scheduled state")
        return row

    async def _visible(self, conn: asyncpg.Connection, tenant: Tenant, job_id: str) -> str:
        """The job's status; NotFound if it does not exist or is outside the key's scope."""
        row = await repo.status(conn, tenant.org_id, job_id)
        if row is None or not tenant.allows(row["queue_name"]):
            raise errors.NotFound("Job not found")
        return str(row["status"])


def _scope_problem(tenant: Tenant, queue: str) -> str | None:
    if tenant.allows(queue):
        return None
    return f"API key does not have permission for queue '{queue}'"


async def _parent_problems(
    conn: asyncpg.Connection, org_id: str, jobs: Sequence[NewJob], todo: list[int]
) -> set[int]:
    """Items whose parent is missing or sits in another queue (API.md §3.7)."""
    wanted = {jobs[i].parent_job_id for i in todo if jobs[i].parent_job_id}
    if not wanted:
        return set()
    queues = await repo.parent_queues(conn, org_id, [p for p in wanted if p])
    return {
        i
        for i in todo
        if jobs[i].parent_job_id and queues.get(jobs[i].parent_job_id or "") != jobs[i].queue_name
    }


def _alias(
    i: int, job: NewJob, first_by_key: dict[str, int], results: dict[int, Created]
) -> Created:
    first = results[first_by_key[job.idempotency_key or ""]]
    return Created(i, first.job_id, created=False, error=first.error)
