"""End to end through the real internal gRPC server on a loopback port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import orjson
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from spooled_common import errors, rpc
from spooled_common.db import create_pool
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc
from spooled_queue_core import probes
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.testing import make_settings
from spooled_queue_core.wakeup import Wakeup

TOKEN = "test-internal-token"


@pytest.fixture(scope="module")
async def app(core_dsn: str) -> AsyncIterator[QueueCoreApp]:
    settings = make_settings(
        core_dsn,
        SPOOLED_INTERNAL_TOKEN=TOKEN,
        QUEUE_CORE_REAPER_INTERVAL_SECS=3600,
        QUEUE_CORE_SHUTDOWN_GRACE_SECS=2,
    )
    instance = QueueCoreApp(settings)
    await instance.start()
    yield instance
    await instance.stop()


@pytest.fixture(scope="module")
async def channel(app: QueueCoreApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{app.grpc_port}", options=rpc.CHANNEL_OPTIONS
    ) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> queue_core_pb2_grpc.QueueCoreStub:
    return queue_core_pb2_grpc.QueueCoreStub(channel)


@pytest.fixture
def md() -> tuple[tuple[str, str], ...]:
    return rpc.call_metadata(TOKEN, Tenant(f"org-{uuid.uuid4()}"))


def spec(queue: str = "q", **kw: object) -> pb.JobSpec:
    return pb.JobSpec(queue_name=queue, payload=b'{"n": 1}', **kw)  # type: ignore[arg-type]


class TestAuth:
    async def test_without_token_is_unauthenticated(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        no_token = tuple(kv for kv in md if kv[0] != rpc.TOKEN_KEY)
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.GetUsage(pb.UsageRequest(), metadata=no_token)
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_wrong_token_is_unauthenticated(self, stub) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.GetUsage(pb.UsageRequest(), metadata=rpc.call_metadata("nope", Tenant("o")))
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_missing_org_is_unauthenticated(self, stub) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.GetUsage(pb.UsageRequest(), metadata=rpc.call_metadata(TOKEN, None))
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_health_needs_no_token(self, channel: grpc.aio.Channel) -> None:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="spooled.internal.v1.QueueCore")
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


class TestJobLifecycle:
    async def test_create_claim_complete(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        created = await stub.CreateJob(
            pb.CreateJobRequest(job=spec(idempotency_key="k")), metadata=md
        )
        dup = await stub.CreateJob(pb.CreateJobRequest(job=spec(idempotency_key="k")), metadata=md)
        assert created.created and not dup.created and dup.id == created.id
        claimed = await stub.ClaimJobs(
            pb.ClaimJobsRequest(queue_name="q", worker_id="w", lease_duration_secs=60), metadata=md
        )
        [job] = claimed.jobs
        assert job.id == created.id and orjson.loads(job.payload) == {"n": 1}
        assert job.status == "processing" and job.HasField("lease_expires_at")
        beat = await stub.HeartbeatJob(
            pb.HeartbeatJobRequest(
                job_id=job.id, worker_id="w", lease_id=job.lease_id, lease_duration_secs=120
            ),
            metadata=md,
        )
        assert beat.status == "processing" and beat.HasField("lease_expires_at")
        done = await stub.CompleteJob(
            pb.CompleteJobRequest(
                job_id=job.id, worker_id="w", lease_id=job.lease_id, result=b'{"ok": 1}'
            ),
            metadata=md,
        )
        assert done.status == "completed"
        got = await stub.GetJob(pb.JobRef(job_id=job.id), metadata=md)
        assert got.status == "completed" and orjson.loads(got.result) == {"ok": 1}
        assert not got.HasField("last_error")
        history = await stub.GetJobHistory(pb.JobHistoryRequest(job_id=job.id), metadata=md)
        assert [e.event_type for e in history.events] == ["created", "processing", "completed"]

    async def test_errors_carry_the_app_error_trailer(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        await stub.CreateJob(pb.CreateJobRequest(job=spec()), metadata=md)
        [job] = (
            await stub.ClaimJobs(pb.ClaimJobsRequest(queue_name="q", worker_id="w"), metadata=md)
        ).jobs
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.CompleteJob(
                pb.CompleteJobRequest(job_id=job.id, worker_id="w", lease_id="stale"), metadata=md
            )
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        err = errors.from_rpc_error(exc.value)
        assert isinstance(err, errors.LeaseExpired) and err.code == "LEASE_EXPIRED"
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.FailJob(
                pb.FailJobRequest(job_id=job.id, worker_id="w", error="x"), metadata=md
            )
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "lease_id is required" in (exc.value.details() or "")

    async def test_fail_reports_the_retry(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        await stub.CreateJob(pb.CreateJobRequest(job=spec(max_retries=2)), metadata=md)
        [job] = (
            await stub.ClaimJobs(pb.ClaimJobsRequest(queue_name="q", worker_id="w"), metadata=md)
        ).jobs
        out = await stub.FailJob(
            pb.FailJobRequest(job_id=job.id, worker_id="w", lease_id=job.lease_id, error="boom"),
            metadata=md,
        )
        assert (out.status, out.will_retry, out.next_retry_delay_secs) == ("pending", True, 1)

    async def test_long_poll_is_woken_by_an_enqueue(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        waiting = asyncio.ensure_future(
            stub.ClaimJobs(
                pb.ClaimJobsRequest(queue_name="lp", worker_id="w", wait_ms=20_000),
                metadata=md,
                timeout=30,
            )
        )
        await asyncio.sleep(0.3)
        created = await stub.CreateJob(pb.CreateJobRequest(job=spec("lp")), metadata=md)
        reply = await asyncio.wait_for(waiting, 10)
        assert [j.id for j in reply.jobs] == [created.id]

    async def test_scope_is_enforced(self, stub) -> None:  # type: ignore[no-untyped-def]
        scoped = rpc.call_metadata(TOKEN, Tenant(f"org-{uuid.uuid4()}", frozenset({"mine"})))
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.CreateJob(pb.CreateJobRequest(job=spec("theirs")), metadata=scoped)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert errors.from_rpc_error(exc.value).status == 403


class TestEveryRpcMaps:
    async def test_operator_queue_worker_and_usage_calls(self, stub, md) -> None:  # type: ignore[no-untyped-def]
        bulk = await stub.CreateJobs(
            pb.CreateJobsRequest(jobs=[spec(), spec(priority=500), spec(tags=b'{"t": 1}')]),
            metadata=md,
        )
        assert [(r.created, r.HasField("error")) for r in bulk.results] == [
            (True, False),
            (False, True),
            (True, False),
        ]
        ids = [r.job_id for r in bulk.results if r.created]
        listed = await stub.ListJobs(pb.ListJobsRequest(limit=1), metadata=md)
        assert len(listed.jobs) == 1 and listed.has_more
        status = await stub.BatchStatus(pb.BatchStatusRequest(job_ids=ids), metadata=md)
        assert sorted(j.id for j in status.jobs) == sorted(ids)
        boosted = await stub.BoostPriority(
            pb.BoostPriorityRequest(job_id=ids[0], priority=9), metadata=md
        )
        assert (boosted.old_priority, boosted.new_priority) == (0, 9)
        cancelled = await stub.CancelJob(pb.JobRef(job_id=ids[1]), metadata=md)
        assert cancelled.status == "cancelled"
        stats = await stub.GetJobStats(pb.JobStatsRequest(queue_name="q"), metadata=md)
        assert (stats.pending, stats.cancelled, stats.total) == (1, 1, 2)

        worker = await stub.RegisterWorker(
            pb.RegisterWorkerRequest(queue_name="q", hostname="h", worker_id=f"w-{uuid.uuid4()}"),
            metadata=md,
        )
        assert worker.lease_duration_secs == 30 and worker.heartbeat_interval_secs == 10
        wid = worker.worker.id
        [job] = (
            await stub.ClaimJobs(pb.ClaimJobsRequest(queue_name="q", worker_id=wid), metadata=md)
        ).jobs
        await stub.FailJob(
            pb.FailJobRequest(
                job_id=job.id, worker_id=wid, lease_id=job.lease_id, error="fatal", retry=False
            ),
            metadata=md,
        )
        assert (await stub.RetryJob(pb.JobRef(job_id=job.id), metadata=md)).status == "pending"
        [job] = (
            await stub.ClaimJobs(pb.ClaimJobsRequest(queue_name="q", worker_id=wid), metadata=md)
        ).jobs
        await stub.FailJob(
            pb.FailJobRequest(
                job_id=job.id, worker_id=wid, lease_id=job.lease_id, error="fatal", retry=False
            ),
            metadata=md,
        )
        retried = await stub.RetryDeadLetters(
            pb.RetryDeadLettersRequest(queue_name="q"), metadata=md
        )
        assert list(retried.retried_job_ids) == [job.id]
        purged = await stub.PurgeDeadLetters(pb.PurgeDeadLettersRequest(), metadata=md)
        assert purged.purged_count == 0

        beat = await stub.WorkerHeartbeat(
            pb.WorkerHeartbeatRequest(worker_id=wid, current_jobs=1, status="healthy"), metadata=md
        )
        assert not beat.should_drain
        assert (await stub.GetWorker(pb.WorkerRef(worker_id=wid), metadata=md)).current_jobs == 1
        assert len((await stub.ListWorkers(pb.ListWorkersRequest(), metadata=md)).workers) == 1
        await stub.DeregisterWorker(pb.WorkerRef(worker_id=wid), metadata=md)

        config = await stub.UpdateQueueConfig(
            pb.UpdateQueueConfigRequest(queue_name="q", max_retries=4, settings=b'{"x": 1}'),
            metadata=md,
        )
        assert config.max_retries == 4 and orjson.loads(config.settings) == {"x": 1}
        assert (await stub.GetQueue(pb.QueueRef(queue_name="q"), metadata=md)).max_retries == 4
        paused = await stub.PauseQueue(
            pb.PauseQueueRequest(queue_name="q", reason="r"), metadata=md
        )
        assert paused.reason == "r" and paused.HasField("paused_at")
        qstats = await stub.GetQueueStats(pb.QueueRef(queue_name="q"), metadata=md)
        assert qstats.paused and qstats.queue_name == "q" and qstats.total == 2
        resumed = await stub.ResumeQueue(pb.QueueRef(queue_name="q"), metadata=md)
        assert resumed.queue_name == "q"
        queues = await stub.ListQueues(pb.ListQueuesRequest(), metadata=md)
        assert [q.queue_name for q in queues.queues] == ["q"]
        usage = await stub.GetUsage(pb.UsageRequest(), metadata=md)
        assert usage.total_jobs == 2 and usage.queues == 1
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.DeleteQueue(pb.DeleteQueueRequest(queue_name="q"), metadata=md)
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await stub.DeleteQueue(pb.DeleteQueueRequest(queue_name="q", delete_jobs=True), metadata=md)
        assert (await stub.GetUsage(pb.UsageRequest(), metadata=md)).total_jobs == 0


class TestProbes:
    async def test_health_ready_metrics(self, app: QueueCoreApp) -> None:
        base = f"http://127.0.0.1:{app.http_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health")).status_code == 200
            ready = await client.get("/ready")
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "spooled_jobs_enqueued_total" in metrics.text


class TestShutdown:
    async def test_stop_answers_waiting_claims_then_drains(self, core_dsn: str) -> None:
        instance = QueueCoreApp(
            make_settings(core_dsn, SPOOLED_INTERNAL_TOKEN=TOKEN, QUEUE_CORE_SHUTDOWN_GRACE_SECS=5)
        )
        await instance.start()
        md = rpc.call_metadata(TOKEN, Tenant(f"org-{uuid.uuid4()}"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{instance.grpc_port}") as ch:
            stub = queue_core_pb2_grpc.QueueCoreStub(ch)
            waiting = asyncio.ensure_future(
                stub.ClaimJobs(
                    pb.ClaimJobsRequest(queue_name="q", worker_id="w", wait_ms=20_000),
                    metadata=md,
                    timeout=30,
                )
            )
            await asyncio.sleep(0.3)
            assert await instance.ready() is True
            loop = asyncio.get_running_loop()
            started = loop.time()
            await instance.stop()
            reply = await asyncio.wait_for(waiting, 5)
            assert list(reply.jobs) == []
            assert loop.time() - started < 4
            assert await instance.ready() is False


class TestReadiness:
    async def test_ready_is_503_when_the_database_is_unreachable(self) -> None:
        async def down() -> bool:
            return False

        transport = httpx.ASGITransport(app=probes.create_app(down))
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            assert (await client.get("/ready")).status_code == 503
            assert (await client.get("/health")).status_code == 200

    async def test_ready_check_fails_with_a_dead_pool(self, core_dsn: str) -> None:
        instance = QueueCoreApp(make_settings(core_dsn))
        instance.pool = await create_pool(core_dsn, min_size=1, max_size=1)
        instance.wakeup = Wakeup(core_dsn)
        await instance.wakeup.start()
        try:
            assert await instance.ready() is True
            instance.pool.terminate()
            assert await instance.ready() is False
        finally:
            await instance.wakeup.stop()
