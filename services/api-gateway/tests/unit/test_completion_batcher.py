"""Group commit of completions: concurrent completes share CompleteJobs calls, answers stay per job."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_gateway.completions import MAX_IN_FLIGHT, CompletionBatcher
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

T1, T2 = Tenant("org-1"), Tenant("org-2")


class GatedCore:
    """Answers CompleteJobs only when released, recording each call's items and tenant."""

    def __init__(self) -> None:
        self.calls: list[tuple[Tenant, list[str]]] = []
        self.release = asyncio.Event()
        self.expired: set[str] = set()
        self.down = False

    async def call(self, tenant: Tenant, method: str, request: Any, **_: Any) -> Any:
        assert method == "CompleteJobs"
        self.calls.append((tenant, [j.job_id for j in request.jobs]))
        await self.release.wait()
        if self.down:
            raise errors.ServiceUnavailable()
        return pb.CompleteJobsResponse(
            outcomes=[
                pb.CompleteOutcome(error=errors.encode(errors.LeaseExpired("lease expired")))
                if j.job_id in self.expired
                else pb.CompleteOutcome(status="completed")
                for j in request.jobs
            ]
        )


def req(job_id: str) -> pb.CompleteJobRequest:
    return pb.CompleteJobRequest(job_id=job_id, worker_id="w", lease_id="L")


async def settle(core: GatedCore, tasks: list[asyncio.Task[Any]]) -> list[Any]:
    await asyncio.sleep(0)
    core.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_completes_arriving_during_a_call_go_together() -> None:
    core = GatedCore()
    batcher = CompletionBatcher(core)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(batcher.complete(T1, req(f"j{i}"))) for i in range(20)]
    results = await settle(core, tasks)
    assert results == ["completed"] * 20
    # The first MAX_IN_FLIGHT completes each started a call; the rest waited and
    # went together in the calls that followed.
    assert len(core.calls) <= MAX_IN_FLIGHT + 2
    assert sorted(j for _, ids in core.calls for j in ids) == sorted(f"j{i}" for i in range(20))


async def test_each_caller_gets_its_own_error() -> None:
    core = GatedCore()
    core.expired = {"j1"}
    batcher = CompletionBatcher(core)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(batcher.complete(T1, req(f"j{i}"))) for i in range(3)]
    ok0, lost, ok2 = await settle(core, tasks)
    assert ok0 == ok2 == "completed"
    assert isinstance(lost, errors.LeaseExpired)


async def test_a_failed_call_fails_its_callers() -> None:
    core = GatedCore()
    core.down = True
    batcher = CompletionBatcher(core)  # type: ignore[arg-type]
    [err] = await settle(core, [asyncio.create_task(batcher.complete(T1, req("j")))])
    assert isinstance(err, errors.ServiceUnavailable)


async def test_tenants_never_share_a_call() -> None:
    core = GatedCore()
    batcher = CompletionBatcher(core)  # type: ignore[arg-type]
    tasks = [
        asyncio.create_task(batcher.complete(t, req(f"{t.org_id}-{i}")))
        for i in range(6)
        for t in (T1, T2)
    ]
    await settle(core, tasks)
    for tenant, ids in core.calls:
        assert all(j.startswith(tenant.org_id) for j in ids)


@pytest.mark.parametrize("n", [1, 7])
async def test_a_lone_completion_is_sent_at_once(n: int) -> None:
    core = GatedCore()
    core.release.set()
    batcher = CompletionBatcher(core)  # type: ignore[arg-type]
    for i in range(n):
        assert await batcher.complete(T1, req(f"j{i}")) == "completed"
    assert len(core.calls) == n
