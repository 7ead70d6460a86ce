"""The public gRPC server over real gRPC, with an in-memory stand-in for queue-core.

The integration suite drives the real queue-core; here a scripted fake lets
us check what the gateway sends it (the translated requests, the tenant) and
how each of its errors reaches a client, including the long-poll being
cancelled when a StreamJobs client goes away. API-key lookup is replaced by a
table of two keys (unit tests only).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_gateway.auth import authenticate
from spooled_gateway.auth.principal import Principal
from spooled_gateway.core_client import CoreClient
from spooled_gateway.grpc_public import server as public_server
from spooled_gateway.settings import GatewaySettings
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_proto.spooled.v1 import spooled_pb2_grpc

GOOD_KEY = "sp_test_" + "g" * 43
SCOPED_KEY = "sp_test_" + "s" * 43
GOOD = (("x-api-key", GOOD_KEY),)


@dataclass
class FakeCore(queue_core_pb2_grpc.QueueCoreServicer):
    """Records (method, request, tenant); answers from ``replies`` or raises ``fail``."""

    calls: list[tuple[str, Any, Tenant]] = field(default_factory=list)
    fail: dict[str, errors.AppError] = field(default_factory=dict)
    claim_started: asyncio.Event = field(default_factory=asyncio.Event)
    claim_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    claimable: asyncio.Queue[core_pb.Job] = field(default_factory=asyncio.Queue)

    async def _record(self, method: str, request: Any, context: Any) -> None:
        self.calls.append((method, request, rpc.tenant_of(context)))
        if method in self.fail:
            await rpc.abort_with(context, self.fail[method])

    async def CreateJob(self, request: Any, context: Any) -> Any:
        await self._record("CreateJob", request, context)
        return core_pb.CreateJobResponse(id="job-1", created=True)

    async def ClaimJobs(self, request: Any, context: Any) -> Any:
        await self._record("ClaimJobs", request, context)
        if request.wait_ms == 0:
            jobs = []
            while not self.claimable.empty() and len(jobs) < request.limit:
                jobs.append(self.claimable.get_nowait())
            return core_pb.JobList(jobs=jobs)
        self.claim_started.set()
        try:
            job = await asyncio.wait_for(self.claimable.get(), request.wait_ms / 1000)
        except TimeoutError:
            return core_pb.JobList()
        except asyncio.CancelledError:
            self.claim_cancelled.set()
            raise
        return core_pb.JobList(jobs=[job])

    async def CompleteJob(self, request: Any, context: Any) -> Any:
        await self._record("CompleteJob", request, context)
        return core_pb.SettleResponse(status="completed")

    async def CompleteJobs(self, request: Any, context: Any) -> Any:
        # The gateway group-commits completions; each item is recorded like a
        # CompleteJob, and a scripted CompleteJob failure comes back in-band.
        outcomes = []
        for item in request.jobs:
            self.calls.append(("CompleteJob", item, rpc.tenant_of(context)))
            err = self.fail.get("CompleteJob")
            outcomes.append(
                core_pb.CompleteOutcome(error=errors.encode(err))
                if err is not None
                else core_pb.CompleteOutcome(status="completed")
            )
        return core_pb.CompleteJobsResponse(outcomes=outcomes)

    async def FailJob(self, request: Any, context: Any) -> Any:
        await self._record("FailJob", request, context)
        return core_pb.SettleResponse(status="pending", will_retry=True, next_retry_delay_secs=2)

    async def HeartbeatJob(self, request: Any, context: Any) -> Any:
        await self._record("HeartbeatJob", request, context)
        out = core_pb.SettleResponse(status="processing")
        out.lease_expires_at.FromSeconds(1_900_000_000)
        return out

    async def GetJob(self, request: Any, context: Any) -> Any:
        await self._record("GetJob", request, context)
        return core_pb.Job(id=request.job_id, status="pending", payload=b'{"a": 1}')

    async def GetQueueStats(self, request: Any, context: Any) -> Any:
        await self._record("GetQueueStats", request, context)
        return core_pb.QueueStats(
            queue_name=request.queue_name, pending=3, total=9, max_age_ms=1500, cancelled=4
        )

    async def RegisterWorker(self, request: Any, context: Any) -> Any:
        await self._record("RegisterWorker", request, context)
        worker_id = request.worker_id if request.HasField("worker_id") else "minted-1"
        return core_pb.RegisterWorkerResponse(
            worker=core_pb.Worker(id=worker_id), lease_duration_secs=30, heartbeat_interval_secs=10
        )

    async def WorkerHeartbeat(self, request: Any, context: Any) -> Any:
        await self._record("WorkerHeartbeat", request, context)
        return core_pb.WorkerHeartbeatResponse(should_drain=True)

    async def DeregisterWorker(self, request: Any, context: Any) -> Any:
        await self._record("DeregisterWorker", request, context)
        return core_pb.Empty()

    def last(self, method: str) -> Any:
        return next(req for m, req, _ in reversed(self.calls) if m == method)


@dataclass
class Harness:
    core: FakeCore
    channel: grpc.aio.Channel
    port: int

    @property
    def queue(self) -> spooled_pb2_grpc.QueueServiceStub:
        return spooled_pb2_grpc.QueueServiceStub(self.channel)

    @property
    def workers(self) -> spooled_pb2_grpc.WorkerServiceStub:
        return spooled_pb2_grpc.WorkerServiceStub(self.channel)


async def fake_authenticate(pool: Any, raw_key: str) -> Principal:
    if raw_key == GOOD_KEY:
        return Principal(org_id="org-1", api_key_id="k1", queues=("*",), via="api_key")
    if raw_key == SCOPED_KEY:
        return Principal(org_id="org-1", api_key_id="k2", queues=("allowed",), via="api_key")
    raise errors.Unauthorized("Invalid API key")


@pytest.fixture
async def h(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(authenticate, "authenticate_api_key", fake_authenticate)
    core = FakeCore()
    core_server = grpc.aio.server()
    queue_core_pb2_grpc.add_QueueCoreServicer_to_server(core, core_server)
    core_port = core_server.add_insecure_port("127.0.0.1:0")
    await core_server.start()
    client = CoreClient(f"127.0.0.1:{core_port}", "token")
    app = SimpleNamespace(state=SimpleNamespace(db=None, core=client))
    settings = GatewaySettings(GRPC_PORT=0)  # type: ignore[call-arg]
    server = await public_server.start_public_grpc(app, settings)
    port = app.state.grpc_port
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Harness(core, channel, port)
    finally:
        await channel.close()
        await server.stop(grace=0)
        await client.close()
        await core_server.stop(grace=0)


def struct(doc: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call
    return exc.value


class TestServer:
    async def test_health(self, h: Harness) -> None:
        stub = health_pb2_grpc.HealthStub(h.channel)
        for name in ("", "spooled.v1.QueueService", "spooled.v1.WorkerService"):
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=name))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING

    async def test_reflection_v1alpha_and_v1(self, h: Harness) -> None:
        for path in (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ):
            method = h.channel.stream_stream(
                path,
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
            call = method(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            names = {
                s.name for r in [x async for x in call] for s in r.list_services_response.service
            }
            assert "spooled.v1.QueueService" in names
            assert "spooled.v1.WorkerService" in names
        assert reflection_pb2_grpc  # the stub module stays importable

    async def test_stop_reports_not_serving_first(self) -> None:
        app = SimpleNamespace(state=SimpleNamespace(db=None, core=None))
        settings = GatewaySettings(GRPC_PORT=0)  # type: ignore[call-arg]
        server = await public_server.start_public_grpc(app, settings)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}")
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(server.stop(grace=1))
        update = await asyncio.wait_for(watch.read(), 5)
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
        await channel.close()


class TestAuth:
    async def test_missing_key(self, h: Harness) -> None:
        err = await rpc_error(h.queue.GetJob(pb.GetJobRequest(job_id="j")))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "Missing x-api-key or authorization header"
        assert h.core.calls == []

    async def test_bad_key(self, h: Harness) -> None:
        err = await rpc_error(
            h.workers.Deregister(
                pb.DeregisterRequest(worker_id="w"), metadata=(("x-api-key", "sp_test_nope"),)
            )
        )
        assert (err.code(), err.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Invalid API key")

    async def test_bearer(self, h: Harness) -> None:
        md = (("authorization", f"Bearer {GOOD_KEY}"),)
        resp = await h.queue.GetJob(pb.GetJobRequest(job_id="j"), metadata=md)
        assert resp.job.id == "j"

    async def test_tenant_reaches_core(self, h: Harness) -> None:
        md = (("x-api-key", SCOPED_KEY),)
        await h.queue.GetJob(pb.GetJobRequest(job_id="j"), metadata=md)
        _, _, tenant = h.core.calls[-1]
        assert tenant == Tenant("org-1", frozenset({"allowed"}))

    async def test_scope(self, h: Harness) -> None:
        md = (("x-api-key", SCOPED_KEY),)
        err = await rpc_error(h.queue.Enqueue(pb.EnqueueRequest(queue_name="other"), metadata=md))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.details() == "API key does not have permission for queue 'other'"
        await h.queue.Enqueue(pb.EnqueueRequest(queue_name="allowed"), metadata=md)


class TestTranslation:
    async def test_enqueue(self, h: Harness) -> None:
        req = pb.EnqueueRequest(
            queue_name="emails",
            payload=struct({"n": 1, "x": [2.5]}),
            priority=-3,
            max_retries=0,
            timeout_seconds=0,
            idempotency_key="k",
            tags={"a": "b"},
        )
        req.scheduled_at.FromSeconds(2_000_000_000)
        resp = await h.queue.Enqueue(req, metadata=GOOD)
        assert (resp.job_id, resp.created) == ("job-1", True)
        spec = h.core.last("CreateJob").job
        assert orjson.loads(spec.payload) == {"n": 1, "x": [2.5]}
        assert b"1.0" not in spec.payload
        assert (spec.queue_name, spec.priority, spec.idempotency_key) == ("emails", -3, "k")
        assert not spec.HasField("max_retries") and not spec.HasField("timeout_seconds")
        assert orjson.loads(spec.tags) == {"a": "b"}
        assert spec.scheduled_at.seconds == 2_000_000_000

    async def test_enqueue_without_payload_or_tags(self, h: Harness) -> None:
        await h.queue.Enqueue(
            pb.EnqueueRequest(queue_name="q", max_retries=7, timeout_seconds=60), metadata=GOOD
        )
        spec = h.core.last("CreateJob").job
        assert spec.payload == b"{}" and spec.tags == b""
        assert (spec.max_retries, spec.timeout_seconds) == (7, 60)
        assert not spec.HasField("idempotency_key")

    async def test_dequeue(self, h: Harness) -> None:
        job = core_pb.Job(id="j1", status="processing", lease_id="L", payload=b'{"n": 2}')
        h.core.claimable.put_nowait(job)
        resp = await h.queue.Dequeue(
            pb.DequeueRequest(queue_name="q", worker_id="w", batch_size=500), metadata=GOOD
        )
        claim = h.core.last("ClaimJobs")
        assert (claim.limit, claim.lease_duration_secs, claim.wait_ms) == (100, 300, 0)
        assert [j.id for j in resp.jobs] == ["j1"]
        assert resp.jobs[0].status == pb.JOB_STATUS_PROCESSING
        assert resp.jobs[0].payload.fields["n"].number_value == 2

    async def test_complete(self, h: Harness) -> None:
        await h.queue.Complete(
            pb.CompleteRequest(
                job_id="j", worker_id="w", lease_id="L", result=struct({"ok": True, "n": 3})
            ),
            metadata=GOOD,
        )
        sent = h.core.last("CompleteJob")
        assert (sent.job_id, sent.worker_id, sent.lease_id) == ("j", "w", "L")
        assert orjson.loads(sent.result) == {"ok": True, "n": 3}
        await h.queue.Complete(
            pb.CompleteRequest(job_id="j", worker_id="w", lease_id="L"), metadata=GOOD
        )
        assert h.core.last("CompleteJob").result == b""

    @pytest.mark.parametrize(("retry", "expected"), [(None, None), (True, True), (False, False)])
    async def test_fail(self, h: Harness, retry: bool | None, expected: bool | None) -> None:
        req = pb.FailRequest(job_id="j", worker_id="w", error="boom", lease_id="L")
        if retry is not None:
            req.retry = retry
        resp = await h.queue.Fail(req, metadata=GOOD)
        assert (resp.success, resp.will_retry, resp.next_retry_delay_secs) == (True, True, 2)
        sent = h.core.last("FailJob")
        assert (sent.retry if sent.HasField("retry") else None) == expected
        assert sent.error == "boom"

    async def test_renew(self, h: Harness) -> None:
        resp = await h.queue.RenewLease(
            pb.RenewLeaseRequest(job_id="j", worker_id="w", lease_id="L", extension_secs=0),
            metadata=GOOD,
        )
        assert resp.success and resp.new_expires_at.seconds == 1_900_000_000
        assert h.core.last("HeartbeatJob").lease_duration_secs == 300

    async def test_queue_stats(self, h: Harness) -> None:
        resp = await h.queue.GetQueueStats(pb.GetQueueStatsRequest(queue_name="q"), metadata=GOOD)
        assert (resp.queue_name, resp.pending, resp.total, resp.max_age_ms) == ("q", 3, 9, 1500)

    async def test_register(self, h: Harness) -> None:
        resp = await h.workers.Register(
            pb.RegisterWorkerRequest(
                queue_name="q",
                hostname="h",
                max_concurrency=0,
                metadata={"a": "b"},
                worker_id="stable-1",
            ),
            metadata=GOOD,
        )
        assert (resp.worker_id, resp.lease_duration_secs, resp.heartbeat_interval_secs) == (
            "stable-1",
            300,
            10,
        )
        sent = h.core.last("RegisterWorker")
        assert sent.max_concurrency == 5 and orjson.loads(sent.metadata) == {"a": "b"}
        assert not sent.HasField("worker_type") and not sent.HasField("version")
        resp = await h.workers.Register(
            pb.RegisterWorkerRequest(queue_name="q", hostname="h", max_concurrency=1000),
            metadata=GOOD,
        )
        assert resp.worker_id == "minted-1"
        assert h.core.last("RegisterWorker").max_concurrency == 100

    async def test_heartbeat_and_deregister(self, h: Harness) -> None:
        beat = await h.workers.Heartbeat(
            pb.HeartbeatRequest(worker_id="w", current_jobs=-4, status="weird"), metadata=GOOD
        )
        assert beat.acknowledged and beat.should_drain
        sent = h.core.last("WorkerHeartbeat")
        assert (sent.current_jobs, sent.status, sent.metadata) == (0, "healthy", b"")
        gone = await h.workers.Deregister(pb.DeregisterRequest(worker_id="w"), metadata=GOOD)
        assert gone.success


class TestErrors:
    @pytest.mark.parametrize(
        ("err", "code", "details"),
        [
            (
                errors.LeaseExpired("Job lease expired before completion"),
                grpc.StatusCode.FAILED_PRECONDITION,
                "lease expired",
            ),
            (
                errors.LeaseExpired(
                    "lease_id does not match the job's current lease; this "
                    "worker no longer holds it"
                ),
                grpc.StatusCode.FAILED_PRECONDITION,
                "lease_id does not match the job's current lease; this worker no longer holds it",
            ),
            (
                errors.Conflict("Job is already completed"),
                grpc.StatusCode.FAILED_PRECONDITION,
                "Job is already completed",
            ),
            (errors.NotFound("Job not found"), grpc.StatusCode.NOT_FOUND, "Job not found"),
            (
                errors.QuotaExceeded("active jobs limit reached (10/10)"),
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "active jobs limit reached (10/10)",
            ),
        ],
    )
    async def test_core_errors(
        self, h: Harness, err: errors.AppError, code: grpc.StatusCode, details: str
    ) -> None:
        h.core.fail["CompleteJob"] = err
        e = await rpc_error(
            h.queue.Complete(
                pb.CompleteRequest(job_id="j", worker_id="w", lease_id="L"), metadata=GOOD
            )
        )
        assert (e.code(), e.details()) == (code, details)
        trailers = dict(e.trailing_metadata() or ())
        assert "retry-after" not in trailers

    async def test_rate_limit_has_retry_after(self, h: Harness) -> None:
        h.core.fail["CreateJob"] = errors.RateLimited(headers={"Retry-After": "4"})
        e = await rpc_error(h.queue.Enqueue(pb.EnqueueRequest(queue_name="q"), metadata=GOOD))
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(e.trailing_metadata())["retry-after"] == "4"

    async def test_core_down_is_unavailable(self, h: Harness) -> None:
        h.core.fail["CreateJob"] = errors.ServiceUnavailable()
        e = await rpc_error(h.queue.Enqueue(pb.EnqueueRequest(queue_name="q"), metadata=GOOD))
        assert e.code() == grpc.StatusCode.UNAVAILABLE

    async def test_get_job_not_found_is_empty(self, h: Harness) -> None:
        h.core.fail["GetJob"] = errors.NotFound("Job not found")
        resp = await h.queue.GetJob(pb.GetJobRequest(job_id="j"), metadata=GOOD)
        assert not resp.HasField("job")

    async def test_unknown_worker(self, h: Harness) -> None:
        h.core.fail["WorkerHeartbeat"] = errors.NotFound("Worker not found")
        h.core.fail["DeregisterWorker"] = errors.NotFound("Worker not found")
        beat = await h.workers.Heartbeat(pb.HeartbeatRequest(worker_id="w"), metadata=GOOD)
        assert not beat.acknowledged and not beat.should_drain
        gone = await h.workers.Deregister(pb.DeregisterRequest(worker_id="w"), metadata=GOOD)
        assert not gone.success

    async def test_validation_never_reaches_core(self, h: Harness) -> None:
        for call in (
            h.queue.Enqueue(pb.EnqueueRequest(queue_name="bad name"), metadata=GOOD),
            h.queue.Complete(pb.CompleteRequest(job_id="j", worker_id="w"), metadata=GOOD),
            h.queue.Dequeue(pb.DequeueRequest(queue_name="q"), metadata=GOOD),
            h.queue.GetJob(pb.GetJobRequest(), metadata=GOOD),
        ):
            assert (await rpc_error(call)).code() == grpc.StatusCode.INVALID_ARGUMENT
        assert h.core.calls == []


class TestStreams:
    async def test_stream_jobs_long_polls_and_pushes(self, h: Harness) -> None:
        call = h.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name="q", worker_id="w"), metadata=GOOD
        )
        reader = asyncio.create_task(call.read())
        await asyncio.wait_for(h.core.claim_started.wait(), 5)
        claim = h.core.last("ClaimJobs")
        assert (claim.limit, claim.lease_duration_secs, claim.wait_ms) == (1, 300, 15_000)
        h.core.claimable.put_nowait(core_pb.Job(id="pushed", status="processing"))
        assert (await asyncio.wait_for(reader, 5)).id == "pushed"
        call.cancel()

    async def test_client_cancel_cancels_the_long_poll(self, h: Harness) -> None:
        call = h.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name="q", worker_id="w"), metadata=GOOD
        )
        reader = asyncio.create_task(call.read())
        await asyncio.wait_for(h.core.claim_started.wait(), 5)
        call.cancel()
        await asyncio.wait_for(h.core.claim_cancelled.wait(), 5)
        with pytest.raises(asyncio.CancelledError):
            await reader

    async def test_stream_error_ends_the_call(self, h: Harness) -> None:
        h.core.fail["ClaimJobs"] = errors.AccessDenied("nope")
        call = h.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name="q", worker_id="w"), metadata=GOOD
        )
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call.read()
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED

    async def test_process_jobs(self, h: Harness) -> None:
        h.core.claimable.put_nowait(core_pb.Job(id="j1", status="processing", lease_id="L1"))
        h.core.fail["FailJob"] = errors.LeaseExpired("Job lease expired before failure")
        requests = [
            pb.ProcessRequest(dequeue=pb.DequeueRequest(queue_name="q", worker_id="w")),
            pb.ProcessRequest(
                complete=pb.CompleteRequest(job_id="j1", worker_id="w", lease_id="L1")
            ),
            pb.ProcessRequest(
                fail=pb.FailRequest(job_id="j2", worker_id="w", error="e", lease_id="L2")
            ),
        ]
        call = h.queue.ProcessJobs(iter(requests), metadata=GOOD)
        got = {r.WhichOneof("response"): r async for r in call}
        assert got["job"].job.id == "j1"
        assert got["complete"].complete.success
        assert (got["error"].error.code, got["error"].error.message) == (
            "LEASE_EXPIRED",
            "lease expired",
        )
