"""Group commit of job completions: many workers' completes, one queue-core call.

Every completion is its own durable commit, and on a busy queue commits are
what the database spends its time on. So completions of one tenant that
arrive while an earlier batch is on its way to queue-core wait for it and
then go together, as one ``CompleteJobs`` call: one round trip, one
transaction, one WAL flush for the lot. Nothing waits on a timer: when the
tenant has no batch in flight a completion goes at once (a lone worker sees
no added latency), and under load the batches grow by themselves.

Each caller still gets its own answer: the ``SettleResponse``-like outcome,
or the AppError ``CompleteJob`` would have raised for that job (an expired
lease is a 409 for that job only). The REST complete route, the unary gRPC
``Complete`` and the ``ProcessJobs`` stream all go through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_gateway.core_client import CoreClient

log = logging.getLogger(__name__)

#: Completions per CompleteJobs call (queue-core accepts up to 1,000).
MAX_BATCH = 500
#: Batches of one tenant on their way at once. Two lets one batch gather
#: while the other commits, without splitting a burst into many small calls.
MAX_IN_FLIGHT = 2


@dataclass
class _Lane:
    """One tenant's completions waiting for a call, and its calls in flight."""

    waiting: list[tuple[pb.CompleteJobRequest, asyncio.Future[pb.CompleteOutcome]]] = field(
        default_factory=list
    )
    in_flight: int = 0


class CompletionBatcher:
    def __init__(self, core: CoreClient, *, max_batch: int = MAX_BATCH) -> None:
        self._core = core
        self._max_batch = max_batch
        self._lanes: dict[Tenant, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def complete(self, tenant: Tenant, request: pb.CompleteJobRequest) -> str:
        """Complete one job (fenced by its lease); returns its status or raises its AppError."""
        lane = self._lanes.get(tenant)
        if lane is None:
            lane = self._lanes[tenant] = _Lane()
        future: asyncio.Future[pb.CompleteOutcome] = asyncio.get_running_loop().create_future()
        lane.waiting.append((request, future))
        if lane.in_flight < MAX_IN_FLIGHT:
            lane.in_flight += 1
            task = asyncio.create_task(self._flush(tenant, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        outcome = await future
        if outcome.error:
            raise errors.decode(outcome.error)
        return outcome.status

    async def _flush(self, tenant: Tenant, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = lane.waiting[: self._max_batch]
                del lane.waiting[: self._max_batch]
                await self._send(tenant, batch)
        finally:
            lane.in_flight -= 1
            if lane.in_flight == 0 and not lane.waiting and self._lanes.get(tenant) is lane:
                del self._lanes[tenant]

    async def _send(
        self,
        tenant: Tenant,
        batch: list[tuple[pb.CompleteJobRequest, asyncio.Future[pb.CompleteOutcome]]],
    ) -> None:
        try:
            reply = await self._core.call(
                tenant, "CompleteJobs", pb.CompleteJobsRequest(jobs=[r for r, _ in batch])
            )
        except errors.AppError as err:
            # The whole call failed (queue-core down, bad input): every caller sees it.
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(errors.InternalError())
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("CompleteJobs failed unexpectedly")
            return
        for (_, future), outcome in zip(batch, reply.outcomes, strict=True):
            if not future.done():  # the caller may have given up meanwhile
                future.set_result(outcome)

    async def close(self) -> None:
        """Let the batches in flight finish (shutdown)."""
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(list(self._tasks), timeout=5)
