"""The queue operations behind both the unary RPCs and the ProcessJobs stream.

Each takes the caller's Principal and a public request, validates it, calls
queue-core and returns the public response, raising AppError on failure; the
caller decides whether that becomes a gRPC status or an in-band ErrorResponse.
"""

from __future__ import annotations

from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb
from spooled_proto.spooled.v1 import spooled_pb2 as pb

from spooled_gateway import core_client
from spooled_gateway.auth.principal import Principal
from spooled_gateway.completions import CompletionBatcher
from spooled_gateway.core_client import CoreClient
from spooled_gateway.grpc_public import convert, rules


class QueueOps:
    def __init__(
        self,
        core: CoreClient,
        *,
        max_payload_bytes: int,
        completions: CompletionBatcher | None = None,
    ) -> None:
        """``max_payload_bytes`` caps payloads and results alike (QUEUE_MAX_PAYLOAD_SIZE_BYTES);
        completions are group-committed through ``completions`` (one is made when not given)."""
        self._core = core
        self._max_payload = max_payload_bytes
        self._completions = completions or CompletionBatcher(core)

    async def enqueue(self, who: Principal, req: pb.EnqueueRequest) -> pb.EnqueueResponse:
        rules.check_queue_name(req.queue_name)
        who.require_queue(req.queue_name)
        payload = convert.struct_to_json(req.payload) if req.HasField("payload") else b"{}"
        rules.check_size("Payload", len(payload), self._max_payload)
        spec = core_pb.JobSpec(
            queue_name=req.queue_name,
            payload=payload,
            priority=rules.check_priority(req.priority),
            max_retries=rules.max_retries(req.max_retries),
            timeout_seconds=rules.timeout_secs(req.timeout_seconds),
            idempotency_key=rules.check_idempotency_key(req.idempotency_key),
            tags=convert.string_map_to_json(req.tags) if req.tags else b"",
        )
        if req.HasField("scheduled_at"):
            spec.scheduled_at.CopyFrom(req.scheduled_at)
        out = await self._core.call(who.tenant, "CreateJob", core_pb.CreateJobRequest(job=spec))
        return pb.EnqueueResponse(job_id=out.id, created=out.created)

    async def claim(
        self,
        who: Principal,
        req: pb.DequeueRequest | pb.StreamJobsRequest,
        *,
        limit: int,
        wait_ms: int = 0,
    ) -> list[pb.Job]:
        """Claim up to ``limit`` jobs, waiting up to ``wait_ms`` for the first to arrive."""
        rules.check_queue_name(req.queue_name)
        who.require_queue(req.queue_name)
        rules.require(req.worker_id, "Worker ID")
        claim = core_pb.ClaimJobsRequest(
            queue_name=req.queue_name,
            worker_id=req.worker_id,
            limit=limit,
            lease_duration_secs=rules.lease_secs(req.lease_duration_secs),
            wait_ms=wait_ms,
        )
        # A long poll legitimately outlives the default deadline.
        timeout = wait_ms / 1000 + core_client.CoreClient.default_timeout
        out = await self._core.call(who.tenant, "ClaimJobs", claim, timeout=timeout)
        return [convert.job_to_pb(job) for job in out.jobs]

    async def complete(self, who: Principal, req: pb.CompleteRequest) -> pb.CompleteResponse:
        _settle_ids(req)
        result = convert.struct_to_json(req.result) if req.HasField("result") else b""
        rules.check_size("Result", len(result), self._max_payload)
        await self._completions.complete(
            who.tenant,
            core_pb.CompleteJobRequest(
                job_id=req.job_id,
                worker_id=req.worker_id,
                lease_id=req.lease_id,
                result=result,
            ),
        )
        return pb.CompleteResponse(success=True)

    async def fail(self, who: Principal, req: pb.FailRequest) -> pb.FailResponse:
        _settle_ids(req)
        call = core_pb.FailJobRequest(
            job_id=req.job_id,
            worker_id=req.worker_id,
            lease_id=req.lease_id,
            error=rules.error_text(req.error),
        )
        if req.HasField("retry"):
            call.retry = req.retry
        out = await self._core.call(who.tenant, "FailJob", call)
        return pb.FailResponse(
            success=True,
            will_retry=out.will_retry,
            next_retry_delay_secs=out.next_retry_delay_secs,
        )

    async def renew(self, who: Principal, req: pb.RenewLeaseRequest) -> pb.RenewLeaseResponse:
        _settle_ids(req)
        out = await self._core.call(
            who.tenant,
            "HeartbeatJob",
            core_pb.HeartbeatJobRequest(
                job_id=req.job_id,
                worker_id=req.worker_id,
                lease_id=req.lease_id,
                lease_duration_secs=rules.lease_secs(req.extension_secs),
            ),
        )
        resp = pb.RenewLeaseResponse(success=True)
        if out.HasField("lease_expires_at"):
            resp.new_expires_at.CopyFrom(out.lease_expires_at)
        return resp

    async def get_job(self, who: Principal, req: pb.GetJobRequest) -> pb.GetJobResponse:
        rules.require(req.job_id, "Job ID")
        try:
            job = await self._core.call(who.tenant, "GetJob", core_pb.JobRef(job_id=req.job_id))
        except errors.NotFound:
            # Upstream answers an unknown (or out-of-scope) id with an empty
            # response; the SDK reads that as ``job=None``.
            return pb.GetJobResponse()
        return pb.GetJobResponse(job=convert.job_to_pb(job))

    async def queue_stats(
        self, who: Principal, req: pb.GetQueueStatsRequest
    ) -> pb.GetQueueStatsResponse:
        rules.check_queue_name(req.queue_name)
        who.require_queue(req.queue_name)
        s = await self._core.call(
            who.tenant, "GetQueueStats", core_pb.QueueRef(queue_name=req.queue_name)
        )
        return pb.GetQueueStatsResponse(
            queue_name=req.queue_name,
            pending=s.pending,
            scheduled=s.scheduled,
            processing=s.processing,
            completed=s.completed,
            failed=s.failed,
            deadletter=s.deadletter,
            total=s.total,
            max_age_ms=s.max_age_ms,
        )


def _settle_ids(req: pb.CompleteRequest | pb.FailRequest | pb.RenewLeaseRequest) -> None:
    rules.require(req.job_id, "Job ID")
    rules.require(req.worker_id, "Worker ID")
    rules.require_lease_id(req.lease_id)
