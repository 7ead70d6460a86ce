"""Where queue-core gets plan limits and the daily counter: the billing service.

:class:`BillingLimits` talks to billing over internal gRPC (``BILLING_ADDR``).
:class:`Unmetered` admits everything; it is what an empty ``BILLING_ADDR``
selects, for tests of unrelated behaviour and single-process development
(production refuses it at startup).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from spooled_common import errors, plans, rpc
from spooled_common.group_commit import GroupCommit
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

    def cached(self, org_id: str) -> plans.PlanLimits | None:
        """The org's limits if known from a recent answer (no call), else None."""
        ...

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

    def cached(self, org_id: str) -> plans.PlanLimits | None:
        return UNMETERED

    async def refund(self, org_id: str, count: int, day: str) -> None:
        return None

    async def limits(self, org_id: str) -> plans.PlanLimits:
        return UNMETERED

    async def close(self) -> None:
        return None


#: One caller's reservation: (jobs, largest payload bytes).
_Ask = tuple[int, int]
_Batch = list[tuple[_Ask, asyncio.Future[Reservation]]]


class BillingLimits:
    """Billing over internal gRPC, with a short per-org cache of the limits.

    Every reservation reaches billing's counter, but concurrent ones of one
    organization travel together: while a ReserveJobs call is in flight, the
    next ones wait and then go as one call for their sum (billing serializes
    an org's reservations on one counter row anyway, one commit each). When
    the sum does not fit (quota, payload size), each is asked for on its own,
    in arrival order, so exactly the ones that fit are admitted, as if they
    had come one by one. A lone reservation goes at once.

    The cache serves caps checked outside job admission (workers, new queues)
    and the hint job admission checks its caps with while its reservation is
    on the way (admission.py); reservations carry fresh limits back.
    """

    def __init__(self, addr: str, token: str, *, cache_secs: float = 5.0) -> None:
        self._billing = rpc.InternalClient(
            addr, token, billing_pb2_grpc.BillingStub, timeout=CALL_TIMEOUT_S
        )
        self._cache_secs = cache_secs
        self._cache: dict[str, tuple[float, plans.PlanLimits]] = {}
        self._group: GroupCommit[str, _Ask, Reservation] = GroupCommit(self._reserve_batch)

    async def _call(self, org_id: str, method: str, request: Any) -> Any:
        return await self._billing.call(Tenant(org_id), method, request)

    def cached(self, org_id: str) -> plans.PlanLimits | None:
        hit = self._cache.get(org_id)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    async def reserve(self, org_id: str, count: int, largest_payload: int) -> Reservation:
        return await self._group.submit(org_id, (count, largest_payload))

    async def _reserve_batch(self, org_id: str, batch: _Batch) -> None:
        if len(batch) > 1:
            total = sum(count for (count, _), _ in batch)
            largest = max(largest for (_, largest), _ in batch)
            try:
                together = await self._reserve_once(org_id, total, largest)
            except (errors.QuotaExceeded, errors.PayloadTooLarge):
                pass  # not all of them fit: ask one by one below
            except BaseException as exc:
                _fail_all(batch, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            else:
                for (count, _), future in batch:
                    if not future.done():
                        future.set_result(Reservation(count, together.day, together.limits))
                    elif count:  # the caller gave up while we reserved for it
                        await self._refund_quietly(org_id, count, together.day)
                return
        for (count, largest), future in batch:
            try:
                got = await self._reserve_once(org_id, count, largest)
            except BaseException as exc:
                _fail_all([((count, largest), future)], exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            if not future.done():
                future.set_result(got)
            elif count:
                await self._refund_quietly(org_id, count, got.day)

    async def _refund_quietly(self, org_id: str, count: int, day: str) -> None:
        try:
            await self.refund(org_id, count, day)
        except Exception as exc:  # the counter stays high, never low
            log.warning("refund of %d job(s) for org %s failed: %s", count, org_id, exc)

    async def _reserve_once(self, org_id: str, count: int, largest_payload: int) -> Reservation:
        request = pb.ReserveJobsRequest(count=count, largest_payload_bytes=largest_payload)
        reply = await self._call(org_id, "ReserveJobs", request)
        limits = plans.from_message(reply.limits)
        self._remember(org_id, limits)
        return Reservation(int(reply.reserved), reply.day, limits)

    async def refund(self, org_id: str, count: int, day: str) -> None:
        await self._call(org_id, "RefundJobs", pb.RefundJobsRequest(count=count, day=day))

    async def limits(self, org_id: str) -> plans.PlanLimits:
        hit = self._cache.get(org_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        reply = await self._call(org_id, "GetLimits", pb.GetLimitsRequest())
        limits = plans.from_message(reply.limits)
        self._remember(org_id, limits)
        return limits

    def _remember(self, org_id: str, limits: plans.PlanLimits) -> None:
        if len(self._cache) >= 10_000:
            self._cache.clear()
        self._cache[org_id] = (time.monotonic() + self._cache_secs, limits)

    async def close(self) -> None:
        await self._billing.close()


def _fail_all(batch: _Batch, exc: BaseException) -> None:
    err = (
        exc
        if isinstance(exc, errors.AppError)
        else errors.ServiceUnavailable(
            "Billing unavailable; retry shortly", headers={"Retry-After": "1"}
        )
    )
    for _, future in batch:
        if not future.done():
            future.set_exception(err)


def from_settings(addr: str, token: str, cache_secs: float) -> LimitsSource:
    """Billing at ``addr``, or Unmetered when it is empty."""
    if not addr:
        log.warning("BILLING_ADDR is empty: plan limits are NOT enforced (development only)")
        return Unmetered()
    return BillingLimits(addr, token, cache_secs=cache_secs)
