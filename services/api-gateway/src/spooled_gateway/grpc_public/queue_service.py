"""``spooled.v1.QueueService``: producers and workers over gRPC."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator

import grpc
from spooled_common import errors
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_proto.spooled.v1 import spooled_pb2_grpc

from spooled_gateway.grpc_public import rules, status
from spooled_gateway.grpc_public.auth import Authenticator, StreamSession
from spooled_gateway.grpc_public.ops import QueueOps
from spooled_gateway.grpc_public.process_jobs import ProcessJobsStream

log = logging.getLogger(__name__)

#: StreamJobs long-polls queue-core this long per claim; a job enqueued in
#: the meantime is pushed at once (queue-core wakes on LISTEN/NOTIFY).
STREAM_WAIT_MS = 15_000
#: Pause before retrying when queue-core is briefly unreachable.
STREAM_RETRY_S = 1.0
#: An empty claim faster than this means queue-core did not wait; pausing this
#: long keeps a misbehaving peer from turning the stream into a hot loop.
STREAM_MIN_EMPTY_CYCLE_S = 0.05


class QueueServicer(spooled_pb2_grpc.QueueServiceServicer):
    def __init__(self, auth: Authenticator, ops: QueueOps) -> None:
        self._auth = auth
        self._ops = ops

    @status.unary
    async def Enqueue(
        self, request: pb.EnqueueRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnqueueResponse:
        return await self._ops.enqueue(await self._auth.principal(context), request)

    @status.unary
    async def Dequeue(
        self, request: pb.DequeueRequest, context: grpc.aio.ServicerContext
    ) -> pb.DequeueResponse:
        who = await self._auth.principal(context)
        jobs = await self._ops.claim(who, request, limit=rules.batch_size(request.batch_size))
        return pb.DequeueResponse(jobs=jobs)

    @status.unary
    async def Complete(
        self, request: pb.CompleteRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteResponse:
        return await self._ops.complete(await self._auth.principal(context), request)

    @status.unary
    async def Fail(
        self, request: pb.FailRequest, context: grpc.aio.ServicerContext
    ) -> pb.FailResponse:
        return await self._ops.fail(await self._auth.principal(context), request)

    @status.unary
    async def RenewLease(
        self, request: pb.RenewLeaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLeaseResponse:
        return await self._ops.renew(await self._auth.principal(context), request)

    @status.unary
    async def GetJob(
        self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobResponse:
        return await self._ops.get_job(await self._auth.principal(context), request)

    @status.unary
    async def GetQueueStats(
        self, request: pb.GetQueueStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetQueueStatsResponse:
        return await self._ops.queue_stats(await self._auth.principal(context), request)

    async def StreamJobs(  # type: ignore[override]
        self, request: pb.StreamJobsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Job]:
        """Push jobs of one queue as they become claimable, until the client cancels."""
        try:
            session = await self._auth.session(context)
            who = await session.principal()
            rules.check_queue_name(request.queue_name)
            who.require_queue(request.queue_name)
            rules.require(request.worker_id, "Worker ID")
        except errors.AppError as err:
            await status.abort(context, err)
            return
        while True:
            jobs = await self._stream_claim(session, request, context)
            for job in jobs:
                yield job

    async def _stream_claim(
        self,
        session: StreamSession,
        request: pb.StreamJobsRequest,
        context: grpc.aio.ServicerContext,
    ) -> list[pb.Job]:
        """One long-poll cycle of StreamJobs; aborts the call on a lasting error."""
        started = time.monotonic()
        try:
            who = await session.principal()
            jobs = await self._ops.claim(who, request, limit=1, wait_ms=STREAM_WAIT_MS)
        except errors.ServiceUnavailable:
            log.warning("StreamJobs: queue-core unavailable; retrying")
            await asyncio.sleep(STREAM_RETRY_S)
            return []
        except errors.AppError as err:
            await status.abort(context, err)
        except Exception:
            await status.abort(context, status.internal_error("StreamJobs"))
        if not jobs and time.monotonic() - started < STREAM_MIN_EMPTY_CYCLE_S:
            await asyncio.sleep(STREAM_MIN_EMPTY_CYCLE_S)
        return jobs

    async def ProcessJobs(  # type: ignore[override]
        self,
        request_iterator: AsyncIterable[pb.ProcessRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.ProcessResponse]:
        try:
            session = await self._auth.session(context)
        except errors.AppError as err:
            await status.abort(context, err)
            return
        async for response in ProcessJobsStream(self._ops, session, request_iterator).responses():
            yield response
