"""The public gRPC API (``spooled.v1``) against real Postgres, queue-core and gateway.

queue-core runs as its own process (``spooled-queue-core serve``), the gateway
in-process with its real lifespan, which starts the public gRPC server under
test. Each test gets a fresh organization created through ``POST
/organizations``; clients are plain ``grpc.aio`` channels with our stubs.

Never import the official SDK (``spooled.grpc``) here: it registers the same
``spooled.v1`` descriptors and the two copies clash in one process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from spooled_common.migrate import migrate
from spooled_gateway.app import create_app
from spooled_gateway.grpc_public import process_jobs
from spooled_gateway.settings import GatewaySettings
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_proto.spooled.v1 import spooled_pb2_grpc
from spooled_testing.nats import NatsServer
from spooled_testing.postgres import SUPERUSER, PostgresServer, free_port
from spooled_testing.stack import Service

INTERNAL_TOKEN = "grpc-public-test-token"
#: Plan caps are not under test here; lift the free tier as the e2e suite does.
PLAN_ENV = {
    "SPOOLED_PLAN_FREE_MAX_JOBS_PER_DAY": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_ACTIVE_JOBS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_QUEUES": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_WORKERS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_API_KEYS": "unlimited",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "100000",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_BURST": "100000",
}
LEASE_MISMATCH = "does not match the job's current lease"


# -- the stack -----------------------------------------------------------------------
@dataclass
class Stack:
    http: httpx.AsyncClient
    channel: grpc.aio.Channel
    admin_dsn: str

    @property
    def queue(self) -> spooled_pb2_grpc.QueueServiceStub:
        return spooled_pb2_grpc.QueueServiceStub(self.channel)

    @property
    def workers(self) -> spooled_pb2_grpc.WorkerServiceStub:
        return spooled_pb2_grpc.WorkerServiceStub(self.channel)


@pytest.fixture(scope="module")
def plan_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in PLAN_ENV}
    os.environ.update(PLAN_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


DB_NAME = f"grpc_public_{os.getpid()}"


@pytest.fixture(scope="module")
async def database(pg_server: PostgresServer) -> str:
    """One database for the module, both schemas migrated (tests use their own orgs)."""
    dsn = pg_server.create_database(DB_NAME)
    await migrate(dsn, "core", "spooled_queue_core.db.migrations")
    await migrate(dsn, "gateway", "spooled_gateway.db.migrations")
    return dsn


@pytest.fixture(scope="module")
def queue_core(database: str, nats_server: NatsServer, plan_env: None) -> Iterator[str]:
    """queue-core as its own process, as in production; yields its gRPC address."""
    grpc_port, http_port = free_port(), free_port()
    base = Path(tempfile.mkdtemp(prefix="spooled-grpc-public-"))
    bin_dir = Path(sys.executable).parent
    env = {
        "DATABASE_URL": database,
        "NATS_URL": nats_server.url,
        "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "SPOOLED_ENV": "development",
        "QUEUE_CORE_GRPC_PORT": str(grpc_port),
        "QUEUE_CORE_HTTP_PORT": str(http_port),
        # Not about plan limits: no billing service here (tests/e2e/test_limits*.py).
        "BILLING_ADDR": "",
        **PLAN_ENV,
    }
    svc = Service(
        "queue-core",
        [str(bin_dir / "spooled-queue-core"), "serve"],
        env,
        f"http://127.0.0.1:{http_port}/ready",
        base / "queue-core.log",
    )
    svc.start()
    try:
        svc.wait_ready(60)
        yield f"127.0.0.1:{grpc_port}"
    finally:
        svc.stop()


@pytest.fixture(scope="module")
async def stack(
    pg_server: PostgresServer, database: str, queue_core: str, plan_env: None
) -> AsyncIterator[Stack]:
    settings = GatewaySettings(  # type: ignore[call-arg]
        DATABASE_URL=database,
        GRPC_PORT=free_port(),
        QUEUE_CORE_ADDR=queue_core,
        SPOOLED_INTERNAL_TOKEN=INTERNAL_TOKEN,
        SPOOLED_ENV="development",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}")
            await asyncio.wait_for(channel.channel_ready(), 10)
            try:
                yield Stack(http, channel, pg_server.dsn_for(DB_NAME, SUPERUSER))
            finally:
                await channel.close()


@dataclass
class Tenant:
    org_id: str
    key: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("x-api-key", self.key),)


@pytest.fixture
async def tenant(stack: Stack) -> Tenant:
    slug = f"grpc-{secrets.token_hex(4)}"
    r = await stack.http.post("/api/v1/organizations", json={"name": "gRPC tests", "slug": slug})
    assert r.status_code == 201, r.text
    doc = r.json()
    return Tenant(doc["organization"]["id"], doc["api_key"]["key"])


def queue_name() -> str:
    return f"q-{secrets.token_hex(4)}"


def struct(doc: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


async def enqueue(stack: Stack, t: Tenant, queue: str, **kwargs: Any) -> str:
    kwargs.setdefault("payload", struct({"n": 1}))
    resp = await stack.queue.Enqueue(pb.EnqueueRequest(queue_name=queue, **kwargs), metadata=t.md)
    assert resp.created
    return resp.job_id


async def dequeue_one(stack: Stack, t: Tenant, queue: str, lease: int = 30) -> pb.Job:
    resp = await stack.queue.Dequeue(
        pb.DequeueRequest(
            queue_name=queue, worker_id="w1", batch_size=1, lease_duration_secs=lease
        ),
        metadata=t.md,
    )
    assert len(resp.jobs) == 1
    return resp.jobs[0]


async def get_job(stack: Stack, t: Tenant, job_id: str) -> pb.Job:
    resp = await stack.queue.GetJob(pb.GetJobRequest(job_id=job_id), metadata=t.md)
    assert resp.HasField("job")
    return resp.job


async def expect_status(call: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call
    assert exc.value.code() == code, exc.value.details()
    return exc.value.details() or ""


# -- health and reflection ----------------------------------------------------------
class TestHealthAndReflection:
    async def test_health_serving(self, stack: Stack) -> None:
        stub = health_pb2_grpc.HealthStub(stack.channel)
        for service in ("", "spooled.v1.QueueService", "spooled.v1.WorkerService"):
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING

    @pytest.mark.parametrize("package", ["v1alpha", "v1"])
    async def test_reflection_lists_services(self, stack: Stack, package: str) -> None:
        stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel)
        if package == "v1":
            # v1 is wire-identical to v1alpha; only the method path differs.
            stub.ServerReflectionInfo = stack.channel.stream_stream(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
        call = stub.ServerReflectionInfo(
            iter(
                [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="spooled.v1.QueueService"
                    ),
                ]
            )
        )
        responses = [r async for r in call]
        names = {s.name for s in responses[0].list_services_response.service}
        assert {
            "spooled.v1.QueueService",
            "spooled.v1.WorkerService",
            "grpc.health.v1.Health",
        } <= names
        assert responses[1].file_descriptor_response.file_descriptor_proto


# -- authentication and scope ---------------------------------------------------------
class TestAuth:
    async def test_missing_key(self, stack: Stack) -> None:
        details = await expect_status(
            stack.queue.Enqueue(pb.EnqueueRequest(queue_name="q")), grpc.StatusCode.UNAUTHENTICATED
        )
        assert details == "Missing x-api-key or authorization header"

    async def test_bad_key(self, stack: Stack) -> None:
        md = (("x-api-key", "sp_test_" + "A" * 43),)
        await expect_status(
            stack.queue.Enqueue(pb.EnqueueRequest(queue_name="q"), metadata=md),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    async def test_bearer_authorization(self, stack: Stack, tenant: Tenant) -> None:
        md = (("authorization", f"Bearer {tenant.key}"),)
        resp = await stack.queue.Enqueue(
            pb.EnqueueRequest(queue_name=queue_name(), payload=struct({})), metadata=md
        )
        assert resp.created

    async def test_streams_need_a_key_too(self, stack: Stack) -> None:
        call = stack.queue.StreamJobs(pb.StreamJobsRequest(queue_name="q", worker_id="w"))
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call.read()
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_scoped_key(self, stack: Stack, tenant: Tenant) -> None:
        r = await stack.http.post(
            "/api/v1/api-keys",
            json={"name": "scoped", "queues": ["allowed"]},
            headers={"Authorization": f"Bearer {tenant.key}"},
        )
        assert r.status_code == 201, r.text
        md = (("x-api-key", r.json()["key"]),)
        ok = await stack.queue.Enqueue(
            pb.EnqueueRequest(queue_name="allowed", payload=struct({})), metadata=md
        )
        assert ok.created
        details = await expect_status(
            stack.queue.Enqueue(
                pb.EnqueueRequest(queue_name="other", payload=struct({})), metadata=md
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert "other" in details
        await expect_status(
            stack.queue.Dequeue(pb.DequeueRequest(queue_name="other", worker_id="w"), metadata=md),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        await expect_status(
            stack.queue.GetQueueStats(pb.GetQueueStatsRequest(queue_name="other"), metadata=md),
            grpc.StatusCode.PERMISSION_DENIED,
        )


# -- producer and worker round trips --------------------------------------------------
class TestEnqueue:
    async def test_round_trip(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        payload = struct({"n": 1, "f": 1.5, "nested": {"list": [1, "two"]}})
        resp = await stack.queue.Enqueue(
            pb.EnqueueRequest(
                queue_name=q,
                payload=payload,
                priority=7,
                max_retries=4,
                timeout_seconds=60,
                idempotency_key=f"k-{q}",
                tags={"env": "test"},
            ),
            metadata=tenant.md,
        )
        assert resp.created and resp.job_id
        job = await get_job(stack, tenant, resp.job_id)
        assert job.status == pb.JOB_STATUS_PENDING
        assert (job.queue_name, job.priority, job.max_retries, job.timeout_seconds) == (q, 7, 4, 60)
        assert job.idempotency_key == f"k-{q}"
        assert job.organization_id == tenant.org_id
        # Over REST the integral number is still an integer, not 1.0.
        r = await stack.http.get(
            f"/api/v1/jobs/{resp.job_id}", headers={"Authorization": f"Bearer {tenant.key}"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["payload"] == {"n": 1, "f": 1.5, "nested": {"list": [1, "two"]}}
        assert '"n":1,' in r.text.replace(" ", "") or '"n":1}' in r.text.replace(" ", "")
        assert r.json()["tags"] == {"env": "test"}

    async def test_idempotency(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        req = pb.EnqueueRequest(queue_name=q, payload=struct({}), idempotency_key=f"idem-{q}")
        first = await stack.queue.Enqueue(req, metadata=tenant.md)
        second = await stack.queue.Enqueue(req, metadata=tenant.md)
        assert first.created and not second.created
        assert first.job_id == second.job_id

    async def test_defaults_for_zero(self, stack: Stack, tenant: Tenant) -> None:
        job_id = await enqueue(stack, tenant, queue_name(), max_retries=0, timeout_seconds=0)
        job = await get_job(stack, tenant, job_id)
        assert job.max_retries == 3
        assert job.timeout_seconds == 300

    @pytest.mark.parametrize("bad", ["", "a b", ".x", "-x", "x" * 256])
    async def test_bad_queue_name(self, stack: Stack, tenant: Tenant, bad: str) -> None:
        await expect_status(
            stack.queue.Enqueue(pb.EnqueueRequest(queue_name=bad), metadata=tenant.md),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

    async def test_bad_priority(self, stack: Stack, tenant: Tenant) -> None:
        await expect_status(
            stack.queue.Enqueue(
                pb.EnqueueRequest(queue_name="q", priority=101), metadata=tenant.md
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

    async def test_payload_too_large(self, stack: Stack, tenant: Tenant) -> None:
        big = struct({"blob": "x" * (1024 * 1024 + 10)})
        details = await expect_status(
            stack.queue.Enqueue(pb.EnqueueRequest(queue_name="q", payload=big), metadata=tenant.md),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert details.startswith("Payload too large")


class TestDequeueCompleteFail:
    async def test_dequeue_and_complete(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        job_id = await enqueue(stack, tenant, q, payload=struct({"n": 1}))
        job = await dequeue_one(stack, tenant, q)
        assert job.id == job_id
        assert job.status == pb.JOB_STATUS_PROCESSING
        assert job.lease_id and job.assigned_worker_id == "w1"
        assert job.payload.fields["n"].number_value == 1
        done = await stack.queue.Complete(
            pb.CompleteRequest(
                job_id=job.id, worker_id="w1", lease_id=job.lease_id, result=struct({"ok": 1})
            ),
            metadata=tenant.md,
        )
        assert done.success
        final = await get_job(stack, tenant, job_id)
        assert final.status == pb.JOB_STATUS_COMPLETED
        assert final.result.fields["ok"].number_value == 1
        assert final.HasField("completed_at")

    async def test_batch_and_priority_order(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        low = await enqueue(stack, tenant, q, priority=-5)
        high = await enqueue(stack, tenant, q, priority=50)
        resp = await stack.queue.Dequeue(
            pb.DequeueRequest(queue_name=q, worker_id="w", batch_size=10), metadata=tenant.md
        )
        assert sorted(j.id for j in resp.jobs) == sorted([low, high])
        empty = await stack.queue.Dequeue(
            pb.DequeueRequest(queue_name=q, worker_id="w"), metadata=tenant.md
        )
        assert list(empty.jobs) == []

    @pytest.mark.parametrize(("lease", "expected"), [(0, 300), (1, 5), (99999, 3600)])
    async def test_lease_defaults_and_clamps(
        self, stack: Stack, tenant: Tenant, lease: int, expected: int
    ) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        before = datetime.now(UTC)
        job = await dequeue_one(stack, tenant, q, lease=lease)
        granted = (job.lease_expires_at.ToDatetime(tzinfo=UTC) - before).total_seconds()
        assert expected - 2 <= granted <= expected + 2

    async def test_worker_id_required(self, stack: Stack, tenant: Tenant) -> None:
        details = await expect_status(
            stack.queue.Dequeue(pb.DequeueRequest(queue_name="q"), metadata=tenant.md),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert details == "Worker ID is required"

    async def test_fail_retries_then_dead_letters(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        job_id = await enqueue(stack, tenant, q, max_retries=2)
        job = await dequeue_one(stack, tenant, q)
        resp = await stack.queue.Fail(
            pb.FailRequest(job_id=job.id, worker_id="w1", error="boom", lease_id=job.lease_id),
            metadata=tenant.md,
        )
        assert resp.success and resp.will_retry
        assert 0 <= resp.next_retry_delay_secs <= 2
        retried = await get_job(stack, tenant, job_id)
        assert retried.status in (pb.JOB_STATUS_PENDING, pb.JOB_STATUS_SCHEDULED)
        assert retried.retry_count == 1
        assert retried.last_error == "boom"

        q2 = queue_name()  # the first job is backing off in q; keep it out of the way
        other = await enqueue(stack, tenant, q2, max_retries=5)
        claimed = await dequeue_one(stack, tenant, q2)
        assert claimed.id == other
        dead = await stack.queue.Fail(
            pb.FailRequest(
                job_id=claimed.id,
                worker_id="w1",
                error="fatal",
                lease_id=claimed.lease_id,
                retry=False,
            ),
            metadata=tenant.md,
        )
        assert dead.success and not dead.will_retry
        assert (await get_job(stack, tenant, other)).status == pb.JOB_STATUS_DEADLETTER

    async def test_renew_lease(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q, lease=10)
        resp = await stack.queue.RenewLease(
            pb.RenewLeaseRequest(
                job_id=job.id, worker_id="w1", lease_id=job.lease_id, extension_secs=600
            ),
            metadata=tenant.md,
        )
        assert resp.success
        remaining = resp.new_expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
        assert timedelta(seconds=590) <= remaining <= timedelta(seconds=610)

    async def test_get_job_unknown_is_empty(self, stack: Stack, tenant: Tenant) -> None:
        resp = await stack.queue.GetJob(pb.GetJobRequest(job_id="no-such-job"), metadata=tenant.md)
        assert not resp.HasField("job")

    async def test_queue_stats(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        await enqueue(stack, tenant, q)
        await dequeue_one(stack, tenant, q)
        stats = await stack.queue.GetQueueStats(
            pb.GetQueueStatsRequest(queue_name=q), metadata=tenant.md
        )
        assert (stats.queue_name, stats.pending, stats.processing, stats.total) == (q, 1, 1, 2)


class TestSettlementErrors:
    """The codes and texts the SDK maps (SDK.md §5)."""

    @pytest.mark.parametrize("method", ["Complete", "Fail", "RenewLease"])
    async def test_missing_lease_id(self, stack: Stack, tenant: Tenant, method: str) -> None:
        request = {
            "Complete": pb.CompleteRequest(job_id="j", worker_id="w"),
            "Fail": pb.FailRequest(job_id="j", worker_id="w", error="e"),
            "RenewLease": pb.RenewLeaseRequest(job_id="j", worker_id="w"),
        }[method]
        details = await expect_status(
            getattr(stack.queue, method)(request, metadata=tenant.md),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert details == "lease_id is required for job settlement"

    async def test_superseded_lease(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q)
        details = await expect_status(
            stack.queue.Complete(
                pb.CompleteRequest(job_id=job.id, worker_id="w1", lease_id="stale-lease"),
                metadata=tenant.md,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert LEASE_MISMATCH in details

    async def test_expired_lease(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q)
        conn = await asyncpg.connect(stack.admin_dsn)
        try:
            await conn.execute(
                "UPDATE core.jobs SET lease_expires_at = now() - interval '1 s' WHERE id = $1",
                job.id,
            )
        finally:
            await conn.close()
        for call in (
            stack.queue.Complete(
                pb.CompleteRequest(job_id=job.id, worker_id="w1", lease_id=job.lease_id),
                metadata=tenant.md,
            ),
            stack.queue.RenewLease(
                pb.RenewLeaseRequest(job_id=job.id, worker_id="w1", lease_id=job.lease_id),
                metadata=tenant.md,
            ),
        ):
            details = await expect_status(call, grpc.StatusCode.FAILED_PRECONDITION)
            assert details.strip().lower() == "lease expired" or LEASE_MISMATCH in details

    async def test_already_completed(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q)
        req = pb.CompleteRequest(job_id=job.id, worker_id="w1", lease_id=job.lease_id)
        await stack.queue.Complete(req, metadata=tenant.md)
        details = await expect_status(
            stack.queue.Complete(req, metadata=tenant.md), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert details == "Job is already completed"

    async def test_unknown_job(self, stack: Stack, tenant: Tenant) -> None:
        await expect_status(
            stack.queue.Complete(
                pb.CompleteRequest(job_id="no-such-job", worker_id="w1", lease_id="L"),
                metadata=tenant.md,
            ),
            grpc.StatusCode.NOT_FOUND,
        )

    async def test_other_tenant_cannot_settle(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q)
        r = await stack.http.post(
            "/api/v1/organizations",
            json={"name": "Other org", "slug": f"other-{secrets.token_hex(4)}"},
        )
        other_md = (("x-api-key", r.json()["api_key"]["key"]),)
        await expect_status(
            stack.queue.Complete(
                pb.CompleteRequest(job_id=job.id, worker_id="w1", lease_id=job.lease_id),
                metadata=other_md,
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        resp = await stack.queue.GetJob(pb.GetJobRequest(job_id=job.id), metadata=other_md)
        assert not resp.HasField("job")


# -- streams --------------------------------------------------------------------------
class TestStreamJobs:
    async def test_job_enqueued_after_open_is_pushed(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        call = stack.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name=q, worker_id="streamer", lease_duration_secs=30),
            metadata=tenant.md,
        )
        reader = asyncio.create_task(call.read())
        await asyncio.sleep(0.5)  # the stream is now long-polling an empty queue
        assert not reader.done()
        job_id = await enqueue(stack, tenant, q)
        sent = time.monotonic()
        job = await asyncio.wait_for(reader, 10)
        latency = time.monotonic() - sent
        assert job.id == job_id
        assert job.status == pb.JOB_STATUS_PROCESSING and job.lease_id
        # Pushed on the enqueue's notification, not found by a 1 s poll.
        assert latency < 1.0, f"job took {latency:.2f}s to arrive"
        done = await stack.queue.Complete(
            pb.CompleteRequest(job_id=job.id, worker_id="streamer", lease_id=job.lease_id),
            metadata=tenant.md,
        )
        assert done.success
        # Jobs keep coming on the same stream.
        second = await enqueue(stack, tenant, q)
        assert (await asyncio.wait_for(call.read(), 10)).id == second
        call.cancel()

    async def test_cancelled_stream_claims_nothing_more(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        call = stack.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name=q, worker_id="gone"), metadata=tenant.md
        )
        reader = asyncio.create_task(call.read())
        await asyncio.sleep(0.5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await asyncio.sleep(0.5)
        job_id = await enqueue(stack, tenant, q)
        await asyncio.sleep(1.0)
        assert (await get_job(stack, tenant, job_id)).status == pb.JOB_STATUS_PENDING

    async def test_bad_request_fails_up_front(self, stack: Stack, tenant: Tenant) -> None:
        call = stack.queue.StreamJobs(
            pb.StreamJobsRequest(queue_name="bad name", worker_id="w"), metadata=tenant.md
        )
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call.read()
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


class TestProcessJobs:
    @pytest.fixture(autouse=True)
    def short_wait(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(process_jobs, "DEQUEUE_WAIT_MS", 1_500)

    async def test_full_loop(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        first = await enqueue(stack, tenant, q)
        requests: asyncio.Queue[pb.ProcessRequest | None] = asyncio.Queue()

        async def feed() -> AsyncIterator[pb.ProcessRequest]:
            while (item := await requests.get()) is not None:
                yield item

        call = stack.queue.ProcessJobs(feed(), metadata=tenant.md)

        async def ask(**kwargs: Any) -> pb.ProcessResponse:
            requests.put_nowait(pb.ProcessRequest(**kwargs))
            return await asyncio.wait_for(call.read(), 10)

        got = await ask(
            dequeue=pb.DequeueRequest(queue_name=q, worker_id="pw", lease_duration_secs=30)
        )
        assert got.job.id == first and got.job.lease_id
        lease = got.job.lease_id
        renewed = await ask(
            renew_lease=pb.RenewLeaseRequest(
                job_id=first, worker_id="pw", lease_id=lease, extension_secs=60
            )
        )
        assert renewed.renew_lease.success and renewed.renew_lease.HasField("new_expires_at")
        done = await ask(
            complete=pb.CompleteRequest(
                job_id=first, worker_id="pw", lease_id=lease, result=struct({"r": 2})
            )
        )
        assert done.complete.success
        # Errors come back in-band and the stream lives on.
        again = await ask(complete=pb.CompleteRequest(job_id=first, worker_id="pw", lease_id=lease))
        assert again.error.code == "FAILED_PRECONDITION"
        assert again.error.message == "Job is already completed"
        stale = await ask(fail=pb.FailRequest(job_id=first, worker_id="pw", error="x"))
        assert (stale.error.code, stale.error.message) == (
            "INVALID_ARGUMENT",
            "lease_id is required for job settlement",
        )
        empty = await ask(dequeue=pb.DequeueRequest(queue_name=q, worker_id="pw"))
        assert (empty.error.code, empty.error.message) == ("NO_JOBS", "No jobs available")

        # A dequeue long-polling an empty queue does not hold up a settlement...
        second = await enqueue(stack, tenant, q)
        got2 = await ask(dequeue=pb.DequeueRequest(queue_name=q, worker_id="pw"))
        requests.put_nowait(
            pb.ProcessRequest(dequeue=pb.DequeueRequest(queue_name=q, worker_id="pw"))
        )
        failed = await ask(
            fail=pb.FailRequest(
                job_id=second, worker_id="pw", error="nope", lease_id=got2.job.lease_id, retry=False
            )
        )
        assert failed.fail.success and not failed.fail.will_retry
        # ...and is answered as soon as a job arrives.
        third = await enqueue(stack, tenant, q)
        pushed = await asyncio.wait_for(call.read(), 10)
        assert pushed.job.id == third
        requests.put_nowait(None)
        assert await call.read() == grpc.aio.EOF
        assert (await get_job(stack, tenant, first)).status == pb.JOB_STATUS_COMPLETED
        assert (await get_job(stack, tenant, second)).status == pb.JOB_STATUS_DEADLETTER
        assert await call.code() == grpc.StatusCode.OK

    async def test_lease_loss_is_in_band(self, stack: Stack, tenant: Tenant) -> None:
        q = queue_name()
        await enqueue(stack, tenant, q)
        job = await dequeue_one(stack, tenant, q)
        call = stack.queue.ProcessJobs(
            iter(
                [
                    pb.ProcessRequest(
                        complete=pb.CompleteRequest(
                            job_id=job.id, worker_id="w1", lease_id="superseded"
                        )
                    )
                ]
            ),
            metadata=tenant.md,
        )
        responses = [r async for r in call]
        assert len(responses) == 1
        assert responses[0].error.code == "LEASE_EXPIRED"
        assert LEASE_MISMATCH in responses[0].error.message

    async def test_needs_a_key(self, stack: Stack) -> None:
        call = stack.queue.ProcessJobs(iter([]))
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call.read()
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- workers --------------------------------------------------------------------------
class TestWorkers:
    async def test_register_heartbeat_deregister(self, stack: Stack, tenant: Tenant) -> None:
        worker_id = f"stable-{secrets.token_hex(4)}"
        reg = await stack.workers.Register(
            pb.RegisterWorkerRequest(
                queue_name=queue_name(),
                hostname="host-1",
                worker_type="python",
                max_concurrency=0,
                version="1.6.0",
                metadata={"zone": "a"},
                worker_id=worker_id,
            ),
            metadata=tenant.md,
        )
        assert reg.worker_id == worker_id
        assert reg.lease_duration_secs == 300
        assert reg.heartbeat_interval_secs > 0
        # Re-registering a stable id updates that worker instead of adding one.
        again = await stack.workers.Register(
            pb.RegisterWorkerRequest(
                queue_name="q",
                hostname="host-1",
                worker_type="python",
                version="1.6.0",
                metadata={"zone": "b"},
                worker_id=worker_id,
            ),
            metadata=tenant.md,
        )
        assert again.worker_id == worker_id
        beat = await stack.workers.Heartbeat(
            pb.HeartbeatRequest(worker_id=worker_id, current_jobs=2, status="healthy"),
            metadata=tenant.md,
        )
        assert beat.acknowledged and not beat.should_drain
        r = await stack.http.get(
            f"/api/v1/workers/{worker_id}", headers={"Authorization": f"Bearer {tenant.key}"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["max_concurrent_jobs"], body["current_job_count"]) == (5, 2)
        assert body["metadata"] == {"zone": "b"}
        assert (body["worker_type"], body["version"], body["hostname"]) == (
            "python",
            "1.6.0",
            "host-1",
        )
        gone = await stack.workers.Deregister(
            pb.DeregisterRequest(worker_id=worker_id), metadata=tenant.md
        )
        assert gone.success
        # A deregistered worker that still beats is told to drain.
        late = await stack.workers.Heartbeat(
            pb.HeartbeatRequest(worker_id=worker_id, status="healthy"), metadata=tenant.md
        )
        assert late.acknowledged and late.should_drain

    async def test_server_minted_id(self, stack: Stack, tenant: Tenant) -> None:
        reg = await stack.workers.Register(
            pb.RegisterWorkerRequest(queue_name="q", hostname="h", max_concurrency=500),
            metadata=tenant.md,
        )
        assert reg.worker_id
        r = await stack.http.get(
            f"/api/v1/workers/{reg.worker_id}", headers={"Authorization": f"Bearer {tenant.key}"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["max_concurrent_jobs"] == 100

    async def test_unknown_worker(self, stack: Stack, tenant: Tenant) -> None:
        beat = await stack.workers.Heartbeat(
            pb.HeartbeatRequest(worker_id="nobody"), metadata=tenant.md
        )
        assert not beat.acknowledged
        gone = await stack.workers.Deregister(
            pb.DeregisterRequest(worker_id="nobody"), metadata=tenant.md
        )
        assert not gone.success

    async def test_bad_worker_id(self, stack: Stack, tenant: Tenant) -> None:
        await expect_status(
            stack.workers.Register(
                pb.RegisterWorkerRequest(queue_name="q", hostname="h", worker_id="has space"),
                metadata=tenant.md,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
