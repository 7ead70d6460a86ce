"""ProcessJobs stream mechanics with an in-memory stand-in for the queue operations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from spooled_common import errors
from spooled_gateway.grpc_public import process_jobs
from spooled_gateway.grpc_public.process_jobs import ProcessJobsStream
from spooled_proto.spooled.v1 import spooled_pb2 as pb

TIMEOUT = 5.0


class FakeOps:
    """Records calls; a dequeue blocks until ``jobs_ready`` is set."""

    def __init__(self) -> None:
        self.jobs_ready = asyncio.Event()
        self.jobs: list[pb.Job] = [pb.Job(id="j1", lease_id="L1")]
        self.calls: list[tuple[str, str]] = []
        self.complete_gate: dict[str, asyncio.Event] = {}
        self.fail_with: errors.AppError | None = None

    async def claim(
        self, who: Any, req: pb.DequeueRequest, *, limit: int, wait_ms: int = 0
    ) -> list[pb.Job]:
        self.calls.append(("claim", req.queue_name))
        if req.queue_name == "empty":
            return []
        await self.jobs_ready.wait()
        return self.jobs[:limit]

    async def complete(self, who: Any, req: pb.CompleteRequest) -> pb.CompleteResponse:
        gate = self.complete_gate.get(req.job_id)
        if gate is not None:
            await gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(("complete", req.job_id))
        return pb.CompleteResponse(success=True)

    async def fail(self, who: Any, req: pb.FailRequest) -> pb.FailResponse:
        self.calls.append(("fail", req.job_id))
        return pb.FailResponse(success=True, will_retry=req.retry, next_retry_delay_secs=1)

    async def renew(self, who: Any, req: pb.RenewLeaseRequest) -> pb.RenewLeaseResponse:
        self.calls.append(("renew", req.job_id))
        return pb.RenewLeaseResponse(success=True)


class FakeSession:
    def __init__(self) -> None:
        self.revoked = False

    async def principal(self) -> str:
        if self.revoked:
            raise errors.Unauthorized("Invalid API key")
        return "principal"


class Harness:
    def __init__(self) -> None:
        self.ops = FakeOps()
        self.session = FakeSession()
        self.requests: asyncio.Queue[pb.ProcessRequest | None] = asyncio.Queue()
        stream = ProcessJobsStream(self.ops, self.session, self._iter())  # type: ignore[arg-type]
        self.responses = stream.responses()

    async def _iter(self) -> AsyncIterator[pb.ProcessRequest]:
        while (item := await self.requests.get()) is not None:
            yield item

    def send(self, **kwargs: Any) -> None:
        self.requests.put_nowait(pb.ProcessRequest(**kwargs))

    def close(self) -> None:
        self.requests.put_nowait(None)

    async def next(self) -> pb.ProcessResponse:
        return await asyncio.wait_for(anext(self.responses), TIMEOUT)

    async def rest(self) -> list[pb.ProcessResponse]:
        return [r async for r in self.responses]


def complete(job_id: str = "j1") -> dict[str, Any]:
    return {"complete": pb.CompleteRequest(job_id=job_id, worker_id="w", lease_id="L")}


async def test_slow_dequeue_does_not_block_complete() -> None:
    h = Harness()
    h.send(dequeue=pb.DequeueRequest(queue_name="q", worker_id="w"))
    h.send(**complete("other"))
    first = await h.next()
    assert first.WhichOneof("response") == "complete"
    h.ops.jobs_ready.set()
    second = await h.next()
    assert second.WhichOneof("response") == "job"
    assert second.job.lease_id == "L1"
    h.close()
    assert await h.rest() == []


async def test_empty_queue_answers_no_jobs() -> None:
    h = Harness()
    h.send(dequeue=pb.DequeueRequest(queue_name="empty", worker_id="w"))
    resp = await h.next()
    assert (resp.error.code, resp.error.message) == ("NO_JOBS", "No jobs available")
    h.close()
    await h.rest()


async def test_batch_dequeue_answers_one_job_each() -> None:
    h = Harness()
    h.ops.jobs = [pb.Job(id=f"j{i}") for i in range(3)]
    h.ops.jobs_ready.set()
    h.send(dequeue=pb.DequeueRequest(queue_name="q", worker_id="w", batch_size=3))
    h.close()
    assert [r.job.id for r in await h.rest()] == ["j0", "j1", "j2"]


async def test_settlements_of_one_job_keep_their_order() -> None:
    h = Harness()
    gate = asyncio.Event()
    h.ops.complete_gate["j1"] = gate
    h.send(**complete("j1"))
    h.send(fail=pb.FailRequest(job_id="j1", worker_id="w", lease_id="L", error="e"))
    h.send(renew_lease=pb.RenewLeaseRequest(job_id="j2", worker_id="w", lease_id="L"))
    # j2 is independent and overtakes the held-up j1.
    assert (await h.next()).WhichOneof("response") == "renew_lease"
    gate.set()
    kinds = [(await h.next()).WhichOneof("response") for _ in range(2)]
    assert kinds == ["complete", "fail"]
    assert h.ops.calls == [("renew", "j2"), ("complete", "j1"), ("fail", "j1")]
    h.close()
    await h.rest()


async def test_errors_are_in_band_and_the_stream_continues() -> None:
    h = Harness()
    h.ops.fail_with = errors.LeaseExpired("Job lease expired before completion")
    h.send(**complete())
    resp = await h.next()
    assert (resp.error.code, resp.error.message) == ("LEASE_EXPIRED", "lease expired")
    h.ops.fail_with = None
    h.send(**complete())
    assert (await h.next()).complete.success
    h.close()
    assert await h.rest() == []


async def test_empty_request() -> None:
    h = Harness()
    h.send()
    resp = await h.next()
    assert (resp.error.code, resp.error.message) == ("INVALID_REQUEST", "Empty request")
    h.close()
    await h.rest()


async def test_half_close_waits_for_in_flight_work() -> None:
    h = Harness()
    h.send(dequeue=pb.DequeueRequest(queue_name="q", worker_id="w"))
    h.close()
    await asyncio.sleep(0.05)
    h.ops.jobs_ready.set()
    rest = await asyncio.wait_for(h.rest(), TIMEOUT)
    assert [r.WhichOneof("response") for r in rest] == ["job"]


async def test_revoked_key_ends_the_stream() -> None:
    h = Harness()
    h.session.revoked = True
    h.send(**complete())
    resp = await h.next()
    assert resp.error.code == "UNAUTHENTICATED"
    with pytest.raises(StopAsyncIteration):
        await h.next()


async def test_unexpected_error_is_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret")

    monkeypatch.setattr(h.ops, "renew", boom)
    h.send(renew_lease=pb.RenewLeaseRequest(job_id="j", worker_id="w", lease_id="L"))
    resp = await h.next()
    assert (resp.error.code, resp.error.message) == ("INTERNAL", "Internal server error")
    h.close()
    await h.rest()


async def test_in_flight_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process_jobs, "MAX_IN_FLIGHT", 2)
    h = Harness()
    gate = asyncio.Event()
    for i in range(4):
        h.ops.complete_gate[f"j{i}"] = gate
        h.send(**complete(f"j{i}"))
    h.close()
    consumer = asyncio.create_task(h.rest())
    await asyncio.sleep(0.05)
    # Two are being worked on, a third is read and waits for a slot.
    assert h.requests.qsize() == 2  # the fourth request and the end marker
    gate.set()
    assert len(await asyncio.wait_for(consumer, TIMEOUT)) == 4
