"""The internal gRPC API ``spooled.internal.v1.QueueCore``.

Each method reads the tenant from metadata, calls one service and maps the
result to protobuf; AppErrors become a gRPC status plus the error trailer
(``handle_errors``). Only callers with the internal token get this far.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import grpc
from grpc_health.v1 import health
from spooled_common import errors, rpc, timefmt
from spooled_common.rpc import tenant_of
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc

from spooled_queue_core import metrics, wire
from spooled_queue_core.dashboard import wire as dashboard_wire
from spooled_queue_core.dashboard.service import DashboardService
from spooled_queue_core.diagnose import wire as diagnose_wire
from spooled_queue_core.diagnose.service import DiagnoseService
from spooled_queue_core.dlq.service import DeadLetterService
from spooled_queue_core.jobs.service import JobService
from spooled_queue_core.leases.service import Completion, LeaseService, Settled
from spooled_queue_core.queues.service import QueueService
from spooled_queue_core.quota import fairness
from spooled_queue_core.usage.service import UsageService
from spooled_queue_core.workers.service import WorkerService
from spooled_queue_core.workflows import wire as workflow_wire
from spooled_queue_core.workflows.dependencies import DependencyService
from spooled_queue_core.workflows.service import WorkflowService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["QueueCore"].full_name
#: A long-poll claim returns this long before the caller's deadline.
DEADLINE_MARGIN_SECS = 0.25

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Ctx: TypeAlias = grpc.aio.ServicerContext


def _rpc(fn: F) -> F:
    """Error mapping (``handle_errors``), a latency histogram per method, and the
    caller's organization for the per-org database fairness cap (quota/fairness.py)."""
    inner = rpc.handle_errors(fn)
    seconds = metrics.RPC_SECONDS.labels(fn.__name__)

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        start = time.perf_counter()
        try:
            with fairness.serving(_org_of(context)):
                return await inner(self, request, context)
        finally:
            seconds.observe(time.perf_counter() - start)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Services:
    jobs: JobService
    leases: LeaseService
    dlq: DeadLetterService
    queues: QueueService
    workers: WorkerService
    usage: UsageService
    diagnose: DiagnoseService
    dashboard: DashboardService
    workflows: WorkflowService
    dependencies: DependencyService


class QueueCoreServicer(queue_core_pb2_grpc.QueueCoreServicer):
    def __init__(self, services: Services) -> None:
        self._s = services

    # -- producers ----------------------------------------------------------------
    @_rpc
    async def CreateJob(self, request: pb.CreateJobRequest, context: Ctx) -> pb.CreateJobResponse:
        created = await self._s.jobs.create(tenant_of(context), wire.new_job(request.job))
        return pb.CreateJobResponse(id=created.job_id, created=created.created)

    @_rpc
    async def CreateJobs(
        self, request: pb.CreateJobsRequest, context: Ctx
    ) -> pb.CreateJobsResponse:
        results = await self._s.jobs.create_many(
            tenant_of(context), [wire.new_job(spec) for spec in request.jobs]
        )
        return pb.CreateJobsResponse(
            results=[
                pb.BulkItemResult(index=r.index, job_id=r.job_id, created=r.created, error=r.error)
                for r in results
            ]
        )

    # -- reads and operator actions ---------------------------------------------
    @_rpc
    async def GetJob(self, request: pb.JobRef, context: Ctx) -> pb.Job:
        return wire.job(await self._s.jobs.get(tenant_of(context), request.job_id))

    @_rpc
    async def ListJobs(self, request: pb.ListJobsRequest, context: Ctx) -> pb.JobList:
        rows, more = await self._s.jobs.list_jobs(tenant_of(context), wire.job_filter(request))
        return pb.JobList(jobs=[wire.job(r) for r in rows], has_more=more)

    @_rpc
    async def BatchStatus(self, request: pb.BatchStatusRequest, context: Ctx) -> pb.JobList:
        rows = await self._s.jobs.batch_status(tenant_of(context), list(request.job_ids))
        return pb.JobList(jobs=[wire.job(r) for r in rows])

    @_rpc
    async def CancelJob(self, request: pb.JobRef, context: Ctx) -> pb.Job:
        return wire.job(await self._s.jobs.cancel(tenant_of(context), request.job_id))

    @_rpc
    async def RetryJob(self, request: pb.JobRef, context: Ctx) -> pb.Job:
        return wire.job(await self._s.jobs.retry(tenant_of(context), request.job_id))

    @_rpc
    async def BoostPriority(
        self, request: pb.BoostPriorityRequest, context: Ctx
    ) -> pb.BoostPriorityResponse:
        row = await self._s.jobs.boost(tenant_of(context), request.job_id, request.priority)
        return pb.BoostPriorityResponse(
            job_id=row["id"], old_priority=row["old_priority"], new_priority=row["new_priority"]
        )

    @_rpc
    async def GetJobStats(self, request: pb.JobStatsRequest, context: Ctx) -> pb.JobStats:
        row = await self._s.jobs.stats(tenant_of(context), wire.optional(request, "queue_name"))
        return pb.JobStats(**dict(row))

    @_rpc
    async def GetJobHistory(self, request: pb.JobHistoryRequest, context: Ctx) -> pb.JobHistory:
        rows, more = await self._s.jobs.history(
            tenant_of(context),
            request.job_id,
            limit=request.limit,
            offset=request.offset,
            order_dir=request.order_dir,
        )
        return pb.JobHistory(events=[wire.job_event(r) for r in rows], has_more=more)

    # -- worker hot path ---------------------------------------------------------
    @_rpc
    async def ClaimJobs(self, request: pb.ClaimJobsRequest, context: Ctx) -> pb.JobList:
        rows = await self._s.leases.claim(
            tenant_of(context),
            request.queue_name,
            request.worker_id,
            limit=request.limit,
            lease_secs=request.lease_duration_secs,
            wait_ms=_wait_ms(request.wait_ms, context),
        )
        return pb.JobList(jobs=[wire.job(r) for r in rows])

    @_rpc
    async def CompleteJob(self, request: pb.CompleteJobRequest, context: Ctx) -> pb.SettleResponse:
        settled = await self._s.leases.complete(
            tenant_of(context),
            request.job_id,
            request.worker_id,
            request.lease_id,
            wire.json_param(request.result),
        )
        return _settled(settled)

    @_rpc
    async def CompleteJobs(
        self, request: pb.CompleteJobsRequest, context: Ctx
    ) -> pb.CompleteJobsResponse:
        outcomes = await self._s.leases.complete_many(
            tenant_of(context),
            [
                Completion(c.job_id, c.worker_id, c.lease_id, wire.json_param(c.result))
                for c in request.jobs
            ],
        )
        return pb.CompleteJobsResponse(
            outcomes=[
                pb.CompleteOutcome(error=errors.encode(o))
                if isinstance(o, errors.AppError)
                else pb.CompleteOutcome(status=o.status)
                for o in outcomes
            ]
        )

    @_rpc
    async def FailJob(self, request: pb.FailJobRequest, context: Ctx) -> pb.SettleResponse:
        retry = wire.optional(request, "retry")
        settled = await self._s.leases.fail(
            tenant_of(context),
            request.job_id,
            request.worker_id,
            request.lease_id,
            request.error,
            retry=retry is not False,
        )
        return _settled(settled)

    @_rpc
    async def HeartbeatJob(
        self, request: pb.HeartbeatJobRequest, context: Ctx
    ) -> pb.SettleResponse:
        settled = await self._s.leases.heartbeat(
            tenant_of(context),
            request.job_id,
            request.worker_id,
            request.lease_id,
            request.lease_duration_secs,
        )
        return _settled(settled)

    # -- dead-letter queue -------------------------------------------------------
    @_rpc
    async def RetryDeadLetters(
        self, request: pb.RetryDeadLettersRequest, context: Ctx
    ) -> pb.RetryDeadLettersResponse:
        out = await self._s.dlq.retry(
            tenant_of(context),
            job_ids=list(request.job_ids),
            queue=wire.optional(request, "queue_name"),
            limit=request.limit,
        )
        return pb.RetryDeadLettersResponse(retried_job_ids=out.retried, skipped_job_ids=out.skipped)

    @_rpc
    async def PurgeDeadLetters(
        self, request: pb.PurgeDeadLettersRequest, context: Ctx
    ) -> pb.PurgeDeadLettersResponse:
        purged = await self._s.dlq.purge(
            tenant_of(context),
            queue=wire.optional(request, "queue_name"),
            older_than=timefmt.from_ts(request, "older_than"),
            limit=request.limit,
        )
        return pb.PurgeDeadLettersResponse(purged_count=purged)

    # -- queues --------------------------------------------------------------------
    @_rpc
    async def ListQueues(self, request: pb.ListQueuesRequest, context: Ctx) -> pb.QueueConfigList:
        rows = await self._s.queues.list_configs(tenant_of(context), request.limit)
        return pb.QueueConfigList(queues=[wire.queue_config(r) for r in rows])

    @_rpc
    async def GetQueue(self, request: pb.QueueRef, context: Ctx) -> pb.QueueConfig:
        return wire.queue_config(await self._s.queues.get(tenant_of(context), request.queue_name))

    @_rpc
    async def UpdateQueueConfig(
        self, request: pb.UpdateQueueConfigRequest, context: Ctx
    ) -> pb.QueueConfig:
        row = await self._s.queues.update_config(
            tenant_of(context), request.queue_name, wire.queue_update(request)
        )
        return wire.queue_config(row)

    @_rpc
    async def GetQueueStats(self, request: pb.QueueRef, context: Ctx) -> pb.QueueStats:
        row = await self._s.queues.stats(tenant_of(context), request.queue_name)
        fields = {k: v for k, v in dict(row).items() if v is not None}
        return pb.QueueStats(queue_name=request.queue_name, **fields)

    @_rpc
    async def PauseQueue(
        self, request: pb.PauseQueueRequest, context: Ctx
    ) -> pb.PauseQueueResponse:
        paused = await self._s.queues.pause(
            tenant_of(context), request.queue_name, wire.optional(request, "reason")
        )
        out = pb.PauseQueueResponse(
            queue_name=paused.queue_name, paused_at=wire.ts(paused.paused_at)
        )
        if paused.reason is not None:
            out.reason = paused.reason
        return out

    @_rpc
    async def ResumeQueue(self, request: pb.QueueRef, context: Ctx) -> pb.ResumeQueueResponse:
        resumed = await self._s.queues.resume(tenant_of(context), request.queue_name)
        return pb.ResumeQueueResponse(
            queue_name=resumed.queue_name, paused_duration_secs=resumed.paused_duration_secs
        )

    @_rpc
    async def DeleteQueue(self, request: pb.DeleteQueueRequest, context: Ctx) -> pb.Empty:
        await self._s.queues.delete(
            tenant_of(context), request.queue_name, delete_jobs=request.delete_jobs
        )
        return pb.Empty()

    # -- workers -------------------------------------------------------------------
    @_rpc
    async def RegisterWorker(
        self, request: pb.RegisterWorkerRequest, context: Ctx
    ) -> pb.RegisterWorkerResponse:
        row = await self._s.workers.register(tenant_of(context), wire.new_worker(request))
        workers = self._s.workers
        return pb.RegisterWorkerResponse(
            worker=wire.worker(row),
            lease_duration_secs=workers.lease_duration_secs,
            heartbeat_interval_secs=workers.heartbeat_interval_secs,
        )

    @_rpc
    async def ListWorkers(self, request: pb.ListWorkersRequest, context: Ctx) -> pb.WorkerList:
        rows = await self._s.workers.list_workers(tenant_of(context), request.limit)
        return pb.WorkerList(workers=[wire.worker(r) for r in rows])

    @_rpc
    async def GetWorker(self, request: pb.WorkerRef, context: Ctx) -> pb.Worker:
        return wire.worker(await self._s.workers.get(tenant_of(context), request.worker_id))

    @_rpc
    async def WorkerHeartbeat(
        self, request: pb.WorkerHeartbeatRequest, context: Ctx
    ) -> pb.WorkerHeartbeatResponse:
        drain = await self._s.workers.heartbeat(
            tenant_of(context),
            request.worker_id,
            current_jobs=request.current_jobs,
            status=request.status,
            metadata=wire.json_param(request.metadata),
        )
        return pb.WorkerHeartbeatResponse(should_drain=drain)

    @_rpc
    async def DeregisterWorker(self, request: pb.WorkerRef, context: Ctx) -> pb.Empty:
        await self._s.workers.deregister(tenant_of(context), request.worker_id)
        return pb.Empty()

    # -- usage -----------------------------------------------------------------------
    @_rpc
    async def GetUsage(self, request: pb.UsageRequest, context: Ctx) -> pb.Usage:
        return pb.Usage(**dict(await self._s.usage.usage(tenant_of(context))))

    # -- operator views ----------------------------------------------------------------
    @_rpc
    async def DiagnoseJob(self, request: pb.DiagnoseJobRequest, context: Ctx) -> pb.Diagnosis:
        found = await self._s.diagnose.diagnose(
            tenant_of(context), request.job_id, diagnose_wire.plan_caps(request.plan)
        )
        return diagnose_wire.diagnosis(found)

    @_rpc
    async def GetDashboard(self, request: pb.DashboardRequest, context: Ctx) -> pb.Dashboard:
        summary = await self._s.dashboard.summary(
            tenant_of(context),
            queue_limit=request.queue_limit,
            minutes=request.throughput_minutes,
        )
        return dashboard_wire.dashboard(summary)

    # -- workflows and job dependencies -------------------------------------------------
    @_rpc
    async def CreateWorkflow(
        self, request: pb.CreateWorkflowRequest, context: Ctx
    ) -> pb.CreateWorkflowResponse:
        created = await self._s.workflows.create(
            tenant_of(context),
            workflow_wire.new_workflow(request),
            wire.optional(request, "max_active_workflows"),
        )
        return workflow_wire.created(created)

    @_rpc
    async def ListWorkflows(
        self, request: pb.ListWorkflowsRequest, context: Ctx
    ) -> pb.WorkflowList:
        rows = await self._s.workflows.list_workflows(
            tenant_of(context),
            status=wire.optional(request, "status") or None,
            limit=request.limit,
            offset=request.offset,
        )
        return pb.WorkflowList(workflows=[workflow_wire.workflow(r) for r in rows])

    @_rpc
    async def GetWorkflow(self, request: pb.WorkflowRef, context: Ctx) -> pb.WorkflowDetail:
        found = await self._s.workflows.get(tenant_of(context), request.workflow_id)
        return workflow_wire.detail(found)

    @_rpc
    async def CancelWorkflow(self, request: pb.WorkflowRef, context: Ctx) -> pb.Workflow:
        row = await self._s.workflows.cancel(tenant_of(context), request.workflow_id)
        return workflow_wire.workflow(row)

    @_rpc
    async def RetryWorkflow(self, request: pb.WorkflowRef, context: Ctx) -> pb.Workflow:
        row = await self._s.workflows.retry(tenant_of(context), request.workflow_id)
        return workflow_wire.workflow(row)

    @_rpc
    async def GetJobDependencies(self, request: pb.JobRef, context: Ctx) -> pb.JobDependencies:
        found = await self._s.dependencies.get(tenant_of(context), request.job_id)
        return workflow_wire.dependencies(found)

    @_rpc
    async def AddJobDependencies(
        self, request: pb.AddJobDependenciesRequest, context: Ctx
    ) -> pb.AddJobDependenciesResponse:
        added = await self._s.dependencies.add(
            tenant_of(context),
            request.job_id,
            list(request.depends_on),
            request.dependency_mode or "all",
        )
        return workflow_wire.added(added)


def _org_of(context: Ctx) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == rpc.ORG_KEY and isinstance(value, str):
            return value
    return None


def _wait_ms(requested: int, context: Ctx) -> int:
    """Never wait past the caller's deadline: answer (empty) just before it."""
    remaining = context.time_remaining()
    if requested <= 0 or remaining is None:
        return max(requested, 0)
    return max(0, min(requested, int((remaining - DEADLINE_MARGIN_SECS) * 1000)))


def _settled(s: Settled) -> pb.SettleResponse:
    return pb.SettleResponse(
        status=s.status,
        will_retry=s.will_retry,
        next_retry_delay_secs=s.next_retry_delay_secs,
        lease_expires_at=wire.ts(s.lease_expires_at),
    )


def build_server(
    servicer: QueueCoreServicer, token: str
) -> tuple[grpc.aio.Server, health.HealthServicer]:
    return rpc.internal_server(
        queue_core_pb2_grpc.add_QueueCoreServicer_to_server, servicer, token, SERVICE_NAME
    )
