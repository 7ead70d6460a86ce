"""Where queue-core gets plan limits and the daily counter: the billing service.

:class:`BillingLimits` talks to billing over internal gRPC (``BILLING_ADDR``).
:class:`Unmetered` admits everything; it is what an empty ``BILLING_ADDR``
selects, for tests of unrelated behaviour and single-process development
(production refuses it at startup).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import grpc
from spooled_common import errors, plans, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc

log = logging.getLogger(__name__)

#: Deadline of one billing call: it sits on the enqueue path.
CALL_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Reservation:
    """Jobs counted on billing's daily counter, and the limits they were counted under."""

    reserved: int
    #: The UTC day counted on ("" when nothing is metered).
    day: str
    limits: plans.PlanLimits


class LimitsSource(Protocol):
    async def reserve(self, org_id: str, count: int, largest_payload: int) -> Reservation: ...

    async def refund(self, org_id: str, count: int, day: str) -> None: ...

    async def limits(self, org_id: str) -> plans.PlanLimits: ...

    async def close(self) -> None: ...


#: What Unmetered reports: every cap unlimited, the largest plan's payload size.
UNMETERED = dataclasses.replace(
    plans.PLANS["enterprise"], display_name="Unmetered", max_payload_size_bytes=5_242_880
)


class Unmetered:
    """No billing service: nothing is counted, every cap is unlimited."""

    async def reserve(self, org_id: str, count: int, largest_payload: int) -> Reservation:
        return Reservation(count, "", UNMETERED)

    async def refund(self, org_id: str, count: int, day: str) -> None:
        return None

    async def limits(self, org_id: str) -> plans.PlanLimits:
        return UNMETERED

    async def close(self) -> None:
        return None


class BillingLimits:
    """Billing over internal gRPC, with a short per-org cache of the limits.

    The cache only serves caps checked outside job admission (workers, new
    queues); reservations always ask billing, and carry fresh limits back.
    """

    def __init__(self, addr: str, token: str, *, cache_secs: float = 5.0) -> None:
        self._channel = grpc.aio.insecure_channel(addr, options=rpc.CHANNEL_OPTIONS)
        self._stub = billing_pb2_grpc.BillingStub(self._channel)
        self._token = token
        self._cache_secs = cache_secs
        self._cache: dict[str, tuple[float, plans.PlanLimits]] = {}

    def _md(self, org_id: str) -> tuple[tuple[str, str], ...]:
        return rpc.call_metadata(self._token, Tenant(org_id))

    async def reserve(self, org_id: str, count: int, largest_payload: int) -> Reservation:
        request = pb.ReserveJobsRequest(count=count, largest_payload_bytes=largest_payload)
        try:
            reply = await self._stub.ReserveJobs(
                request, metadata=self._md(org_id), timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None
        limits = plans.from_message(reply.limits)
        self._remember(org_id, limits)
        return Reservation(int(reply.reserved), reply.day, limits)

    async def refund(self, org_id: str, count: int, day: str) -> None:
        request = pb.RefundJobsRequest(count=count, day=day)
        try:
            await self._stub.RefundJobs(request, metadata=self._md(org_id), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def limits(self, org_id: str) -> plans.PlanLimits:
        hit = self._cache.get(org_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            reply = await self._stub.GetLimits(
                pb.GetLimitsRequest(), metadata=self._md(org_id), timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None
        limits = plans.from_message(reply.limits)
        self._remember(org_id, limits)
        return limits

    def _remember(self, org_id: str, limits: plans.PlanLimits) -> None:
        if len(self._cache) >= 10_000:
            self._cache.clear()
        self._cache[org_id] = (time.monotonic() + self._cache_secs, limits)

    async def close(self) -> None:
        await self._channel.close()


def from_settings(addr: str, token: str, cache_secs: float) -> LimitsSource:
    """Billing at ``addr``, or Unmetered when it is empty."""
    if not addr:
        log.warning("BILLING_ADDR is empty: plan limits are NOT enforced (development only)")
        return Unmetered()
    return BillingLimits(addr, token, cache_secs=cache_secs)
