"""``spooled.batch.v1.BatchService``: many jobs into one queue in one call.

Our extension beside the upstream contract (proto/spooled/batch/v1): the
gRPC twin of ``POST /api/v1/jobs/bulk``. The same rules as ``Enqueue``
apply to every item (queue name and scope once per call; priority,
retries, timeout, idempotency key, payload size per item); an item that
breaks one is reported in its result and the others go ahead. One call is
one queue-core ``CreateJobs``: one plan admission, one INSERT.
"""

from __future__ import annotations

import grpc
import orjson
from spooled_common import errors
from spooled_proto.spooled.batch.v1 import batch_pb2 as pb
from spooled_proto.spooled.batch.v1 import batch_pb2_grpc
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb

from spooled_gateway.core_client import CoreClient
from spooled_gateway.grpc_public import rules, status
from spooled_gateway.grpc_public.auth import Authenticator
from spooled_gateway.grpc_public.convert import string_map_to_json

#: Items per call, as POST /jobs/bulk.
MAX_ITEMS = 100


class BatchServicer(batch_pb2_grpc.BatchServiceServicer):
    def __init__(self, auth: Authenticator, core: CoreClient, *, max_payload_bytes: int) -> None:
        self._auth = auth
        self._core = core
        self._max_payload = max_payload_bytes

    @status.unary
    async def EnqueueBatch(
        self, request: pb.EnqueueBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnqueueBatchResponse:
        who = await self._auth.principal(context)
        rules.check_queue_name(request.queue_name)
        who.require_queue(request.queue_name)
        if not 1 <= len(request.jobs) <= MAX_ITEMS:
            raise errors.ValidationError(f"jobs must hold 1 to {MAX_ITEMS} items")
        specs: list[core_pb.JobSpec] = []
        rejected: dict[int, str] = {}
        for i, item in enumerate(request.jobs):
            try:
                specs.append(self._spec(request.queue_name, item))
            except errors.AppError as err:
                rejected[i] = err.message
        accepted = [i for i in range(len(request.jobs)) if i not in rejected]
        results: dict[int, pb.BatchItemResult] = {
            i: pb.BatchItemResult(index=i, error=msg) for i, msg in rejected.items()
        }
        if specs:
            reply = await self._core.call(
                who.tenant, "CreateJobs", core_pb.CreateJobsRequest(jobs=specs)
            )
            for r in reply.results:
                i = accepted[r.index]
                results[i] = pb.BatchItemResult(
                    index=i,
                    job_id=r.job_id,
                    created=r.created,
                    error=(r.error or "Failed to create job") if r.HasField("error") else "",
                )
        ordered = [results[i] for i in range(len(request.jobs))]
        failures = sum(1 for r in ordered if r.error)
        return pb.EnqueueBatchResponse(
            results=ordered, success_count=len(ordered) - failures, failure_count=failures
        )

    def _spec(self, queue: str, item: pb.BatchJob) -> core_pb.JobSpec:
        payload = item.payload_json or b"{}"
        rules.check_size("Payload", len(payload), self._max_payload)
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise errors.ValidationError("payload_json must be valid JSON") from None
        if not isinstance(doc, dict):
            raise errors.ValidationError("payload_json must be a JSON object")
        spec = core_pb.JobSpec(
            queue_name=queue,
            payload=payload,
            priority=rules.check_priority(item.priority),
            idempotency_key=rules.check_idempotency_key(item.idempotency_key),
            tags=string_map_to_json(item.tags) if item.tags else b"",
        )
        if item.HasField("max_retries"):
            spec.max_retries = min(max(item.max_retries, 0), rules.MAX_RETRIES)
        if item.HasField("timeout_seconds"):
            spec.timeout_seconds = rules.timeout_secs(item.timeout_seconds) or 1
        if item.HasField("scheduled_at"):
            spec.scheduled_at.CopyFrom(item.scheduled_at)
        return spec
