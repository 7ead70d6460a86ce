"""One ProcessJobs stream: a worker asks for jobs and settles them over one connection.

Requests are handled concurrently so a dequeue that is long-polling for work
never holds up the completes behind it. Two orderings are kept because
clients rely on them:

* dequeues run one at a time, in order (each claims up to its batch size and
  answers with one ``job`` per claimed job, or ``NO_JOBS`` after the wait);
* settlements of the same job (renew, then complete) run in the order sent.

Failures come back in-band as ``ErrorResponse{code, message}`` and the stream
goes on; only a revoked key ends it (after an ``UNAUTHENTICATED`` error).
When the client half-closes, in-flight requests finish and their answers are
sent before the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

from spooled_common import errors
from spooled_proto.spooled.v1 import spooled_pb2 as pb

from spooled_gateway.auth.principal import Principal
from spooled_gateway.grpc_public import rules, status
from spooled_gateway.grpc_public.auth import StreamSession
from spooled_gateway.grpc_public.ops import QueueOps

#: How long one dequeue waits for a job before answering NO_JOBS.
DEQUEUE_WAIT_MS = 5_000
#: Requests being worked on at once per stream; reading pauses beyond this.
MAX_IN_FLIGHT = 64

_NO_JOBS = pb.ProcessResponse(error=pb.ErrorResponse(code="NO_JOBS", message="No jobs available"))
_EMPTY = pb.ProcessResponse(error=pb.ErrorResponse(code="INVALID_REQUEST", message="Empty request"))


class ProcessJobsStream:
    def __init__(
        self, ops: QueueOps, session: StreamSession, requests: AsyncIterable[pb.ProcessRequest]
    ) -> None:
        self._ops = ops
        self._session = session
        self._requests = requests
        #: Answers in the order they are ready; None ends the stream.
        self._out: asyncio.Queue[pb.ProcessResponse | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._dequeue_lock = asyncio.Lock()
        #: job id → (lock, number of requests holding or awaiting it)
        self._job_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def responses(self) -> AsyncIterator[pb.ProcessResponse]:
        reader = asyncio.create_task(self._read())
        try:
            while (item := await self._out.get()) is not None:
                yield item
        finally:
            reader.cancel()
            for task in list(self._tasks):
                task.cancel()
            # The reader fails only when the call is already gone (client reset).
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self) -> None:
        try:
            async for request in self._requests:
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(request))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            # Half-closed: answer what is in flight, then end the stream.
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            self._out.put_nowait(None)

    async def _handle(self, request: pb.ProcessRequest) -> None:
        try:
            kind = request.WhichOneof("request")
            if kind is None:
                self._out.put_nowait(_EMPTY)
            elif kind == "dequeue":
                async with self._dequeue_lock:
                    await self._dequeue(await self._principal(), request.dequeue)
            else:
                await self._settle(kind, request)
        except _Revoked:
            self._out.put_nowait(None)
        except errors.AppError as err:
            self._out.put_nowait(status.error_response(err))
        except Exception:
            self._out.put_nowait(status.error_response(status.internal_error("ProcessJobs")))
        finally:
            self._slots.release()

    async def _principal(self) -> Principal:
        try:
            return await self._session.principal()
        except errors.Unauthorized as err:
            self._out.put_nowait(status.error_response(err))
            raise _Revoked from err

    async def _dequeue(self, who: Principal, req: pb.DequeueRequest) -> None:
        jobs = await self._ops.claim(
            who, req, limit=rules.batch_size(req.batch_size), wait_ms=DEQUEUE_WAIT_MS
        )
        if not jobs:
            self._out.put_nowait(_NO_JOBS)
        for job in jobs:
            self._out.put_nowait(pb.ProcessResponse(job=job))

    async def _settle(self, kind: str, request: pb.ProcessRequest) -> None:
        job_id: str = getattr(request, kind).job_id
        async with self._job_lock(job_id):
            who = await self._principal()
            if kind == "complete":
                reply = pb.ProcessResponse(complete=await self._ops.complete(who, request.complete))
            elif kind == "fail":
                reply = pb.ProcessResponse(fail=await self._ops.fail(who, request.fail))
            else:
                reply = pb.ProcessResponse(
                    renew_lease=await self._ops.renew(who, request.renew_lease)
                )
        self._out.put_nowait(reply)

    @contextlib.asynccontextmanager
    async def _job_lock(self, job_id: str) -> AsyncIterator[None]:
        lock, users = self._job_locks.get(job_id, (asyncio.Lock(), 0))
        self._job_locks[job_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._job_locks[job_id]
            if users <= 1:
                del self._job_locks[job_id]
            else:
                self._job_locks[job_id] = (lock, users - 1)


class _Revoked(Exception):
    """The stream's key no longer authenticates; the stream ends."""
