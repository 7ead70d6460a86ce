"""The official SDK (``spooled==1.6.0``) against our gateway over real HTTP.

The gateway app is served by uvicorn on a loopback port (same process, same
event loop) in front of a real queue-core; the SDK's client and its
``AsyncSpooledWorker`` run unchanged. real_auth_later: the API key here is a
placeholder, since authentication is overridden (see ``core_stack``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from spooled import AsyncSpooledClient, AsyncSpooledWorker
from spooled_testing.postgres import free_port

if TYPE_CHECKING:
    from core_stack import Gateway

pytest_plugins = ["core_stack"]

PLACEHOLDER_KEY = "sp_test_" + "x" * 43


@pytest.fixture(scope="module")
async def base_url(core_gateway: Gateway) -> AsyncIterator[str]:
    port = free_port()
    # lifespan off: the module's core_gateway fixture already owns the app's resources.
    server = uvicorn.Server(
        uvicorn.Config(
            core_gateway.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 10 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def sdk(base_url: str) -> AsyncIterator[AsyncSpooledClient]:
    org = str(uuid.uuid4())
    async with AsyncSpooledClient(
        api_key=PLACEHOLDER_KEY, base_url=base_url, headers={"x-test-org": org}
    ) as client:
        yield client


async def test_sdk_jobs_resource(sdk: AsyncSpooledClient) -> None:
    created = await sdk.jobs.create(
        {
            "queue_name": "sdk",
            "payload": {"job_type": "email"},
            "idempotency_key": "k1",
            "tags": ["t"],
        }
    )
    assert created.created is True
    again = await sdk.jobs.create({"queue_name": "sdk", "payload": {}, "idempotency_key": "k1"})
    assert again.created is False and again.id == created.id

    job = await sdk.jobs.get(created.id)
    assert job.status == "pending" and job.payload == {"job_type": "email"}
    page = await sdk.jobs.list({"queue_name": "sdk", "status": ["pending", "failed"], "limit": 10})
    assert [j.id for j in page] == [created.id] and page.has_more is False
    assert page[0].job_type == "email"
    stats = await sdk.jobs.get_stats()
    assert stats.pending == 1 and stats.total == 1
    [status] = await sdk.jobs.batch_status([created.id])
    assert status.status == "pending"
    boosted = await sdk.jobs.boost_priority(created.id, 9)
    assert boosted.new_priority == 9

    bulk = await sdk.jobs.bulk_enqueue(
        {
            "queue_name": "sdk",
            "jobs": [{"payload": {"n": 1}}, {"payload": {"n": 2}, "idempotency_key": "b2"}],
        }
    )
    assert bulk.success_count == 2 and bulk.failure_count == 0

    await sdk.jobs.cancel(created.id)
    assert (await sdk.jobs.get(created.id)).status == "cancelled"
    history = await sdk.jobs.history(created.id)
    assert history and history.has_more is False


async def test_sdk_worker_processes_jobs(sdk: AsyncSpooledClient) -> None:
    ok = [(await sdk.jobs.create({"queue_name": "work", "payload": {"n": i}})).id for i in range(3)]
    worker_id = f"sdk-{uuid.uuid4().hex[:12]}"
    bad = (
        await sdk.jobs.create({"queue_name": "work", "payload": {"fail": True}, "max_retries": 0})
    ).id
    worker = AsyncSpooledWorker(
        sdk, "work", concurrency=2, poll_interval=0.05, lease_duration=5, worker_id=worker_id
    )
    settled: list[str] = []

    @worker.process
    async def handle(ctx: Any) -> dict[str, Any]:
        if ctx.payload.get("fail"):
            raise RuntimeError("handler exploded")
        return {"double": ctx.payload["n"] * 2}

    worker.on("job:completed", lambda event: settled.append(event.job_id))
    worker.on("job:failed", lambda event: settled.append(event.job_id))

    running = asyncio.create_task(worker.start())
    for _ in range(200):
        if len(settled) >= 4:
            break
        await asyncio.sleep(0.05)
    await worker.stop()
    await asyncio.wait_for(running, 30)

    assert sorted(settled) == sorted([*ok, bad])
    for job_id in ok:
        job = await sdk.jobs.get(job_id)
        assert job.status == "completed" and job.result is not None
    failed = await sdk.jobs.get(bad)
    assert failed.status == "deadletter" and failed.last_error == "handler exploded"

    workers = await sdk.workers.list()
    assert [w.id for w in workers] == [worker_id]
    assert (await sdk.workers.get(worker_id)).status == "offline"

    dlq = await sdk.jobs.dlq.list({"queue_name": "work"})
    assert [j.id for j in dlq] == [bad]
    retried = await sdk.jobs.dlq.retry({"job_ids": [bad]})
    assert retried.retried_jobs == [bad] and retried.job_ids == [bad]
    await sdk.jobs.cancel(bad)
    assert (await sdk.jobs.dlq.purge({"confirm": True})).purged_count == 0


async def test_sdk_queues_resource(sdk: AsyncSpooledClient) -> None:
    await sdk.jobs.create({"queue_name": "qs", "payload": {}})
    cfg = await sdk.queues.update_config("qs", {"max_retries": 5})
    assert cfg.max_retries == 5
    assert (await sdk.queues.get("qs")).max_retries == 5
    assert [q.queue_name for q in await sdk.queues.list()] == ["qs"]
    paused = await sdk.queues.pause("qs", reason="maintenance")
    assert paused.paused is True and paused.reason == "maintenance"
    assert (await sdk.jobs.claim({"queue_name": "qs", "worker_id": "w"})).jobs == []
    resumed = await sdk.queues.resume("qs")
    assert resumed.resumed is True
    stats = await sdk.queues.get_stats("qs")
    assert stats.pending_jobs == 1
    await sdk.queues.delete("qs", delete_jobs=True)
    assert (await sdk.jobs.get_stats()).total == 0
