"""Group commit of job completions: many workers' completes, one queue-core call.

Every completion is its own durable commit, and on a busy queue commits are
what the database spends its time on. So completions of one tenant that
arrive while an earlier batch is on its way to queue-core wait for it and
then go together (``spooled_common.group_commit``), as one ``CompleteJobs``
call: one round trip, one transaction, one WAL flush for the lot.

Each caller still gets its own answer: the ``SettleResponse``-like outcome,
or the AppError ``CompleteJob`` would have raised for that job (an expired
lease is a 409 for that job only). The REST complete route, the unary gRPC
``Complete`` and the ``ProcessJobs`` stream all go through here.
"""

from __future__ import annotations

import asyncio
import logging

from spooled_common import errors
from spooled_common.group_commit import GroupCommit
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_gateway.core_client import CoreClient

log = logging.getLogger(__name__)

#: Completions per CompleteJobs call (queue-core accepts up to 1,000).
MAX_BATCH = 500
#: Batches of one tenant on their way at once. Two lets one batch gather
#: while the other commits, without splitting a burst into many small calls.
MAX_IN_FLIGHT = 2

_Batch = list[tuple[pb.CompleteJobRequest, asyncio.Future[pb.CompleteOutcome]]]


class CompletionBatcher:
    def __init__(self, core: CoreClient, *, max_batch: int = MAX_BATCH) -> None:
        self._core = core
        self._group: GroupCommit[Tenant, pb.CompleteJobRequest, pb.CompleteOutcome] = GroupCommit(
            self._send, max_batch=max_batch, max_in_flight=MAX_IN_FLIGHT
        )

    async def complete(self, tenant: Tenant, request: pb.CompleteJobRequest) -> str:
        """Complete one job (fenced by its lease); returns its status or raises its AppError."""
        outcome = await self._group.submit(tenant, request)
        if outcome.error:
            raise errors.decode(outcome.error)
        return outcome.status

    async def _send(self, tenant: Tenant, batch: _Batch) -> None:
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
        await self._group.close()
