"""/metrics of the real service process after real work, checked by value.

`spooled-queue-core serve` runs as its own process (its own registry, so the
counts are exactly this test's), on a database of its own, with room for two
``queue`` label values. The test drives it over internal gRPC — enqueue,
claim, complete, fail with a retry, fail into the dead-letter queue, register
a worker — and then reads the scrape the way Prometheus does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from spooled_common import rpc
from spooled_common.db import create_pool
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_proto.spooled.internal.v1 import queue_core_pb2_grpc
from spooled_queue_core import db
from spooled_queue_core.queue_labels import OTHER
from spooled_queue_core.testing import sql
from spooled_testing.postgres import PostgresServer, free_port

pytestmark = pytest.mark.slow

TOKEN = "metrics-test-token"
READY_TIMEOUT_SECS = 60.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Service:
    http: str
    grpc_addr: str
    dsn: str
    proc: asyncio.subprocess.Process
    log: Path


@pytest.fixture(scope="module")
async def service(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    fresh_dsn = pg_server.create_database(f"qc_metrics_{uuid.uuid4().hex[:8]}")
    await migrate(fresh_dsn, db.SCHEMA, db.MIGRATIONS)
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_dsn,
        "SPOOLED_INTERNAL_TOKEN": TOKEN,
        "BILLING_ADDR": "",
        "QUEUE_CORE_HTTP_HOST": "127.0.0.1",
        "QUEUE_CORE_GRPC_HOST": "127.0.0.1",
        "QUEUE_CORE_HTTP_PORT": str(http_port),
        "QUEUE_CORE_GRPC_PORT": str(grpc_port),
        "QUEUE_CORE_METRICS_MAX_QUEUES": "2",
        # Every scrape reads the database, so each one shows the latest state.
        "QUEUE_CORE_METRICS_CACHE_SECS": "0",
        # The reaper must not touch the leases this test holds.
        "QUEUE_CORE_REAPER_INTERVAL_SECS": "3600",
    }
    log = tmp_path_factory.mktemp("queue-core") / "serve.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "spooled_queue_core", "serve",
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    svc = Service(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", fresh_dsn, proc, log)
    try:
        await _wait_ready(svc)
        yield svc
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _wait_ready(svc: Service) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECS
    async with httpx.AsyncClient(timeout=2) as client:
        while loop.time() < deadline:
            assert svc.proc.returncode is None, svc.log.read_text()
            try:
                if (await client.get(f"{svc.http}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"queue-core never became ready:\n{svc.log.read_text()}")


@pytest.fixture(scope="module")
async def pool(service: Service) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(service.dsn, min_size=1, max_size=2)
    yield p
    await p.close()


async def scrape(svc: Service) -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"{svc.http}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> Iterator[dict[str, str]]:
    return (dict(labels) for (n, labels) in samples if n == name)


class Worker:
    """A worker of one organization talking to the service's internal gRPC."""

    def __init__(self, stub: queue_core_pb2_grpc.QueueCoreStub) -> None:
        self.stub = stub
        self.md = rpc.call_metadata(TOKEN, Tenant(f"org-{uuid.uuid4()}"))
        self.id = f"w-{uuid.uuid4()}"

    async def enqueue(self, queue: str, n: int = 1, **kw: object) -> None:
        for _ in range(n):
            job = pb.JobSpec(queue_name=queue, payload=b"{}", **kw)  # type: ignore[arg-type]
            await self.stub.CreateJob(pb.CreateJobRequest(job=job), metadata=self.md)

    async def claim(self, queue: str, limit: int) -> list[pb.Job]:
        req = pb.ClaimJobsRequest(queue_name=queue, worker_id=self.id, limit=limit)
        jobs = list((await self.stub.ClaimJobs(req, metadata=self.md)).jobs)
        assert len(jobs) == limit, (queue, len(jobs))
        return jobs

    async def complete(self, job: pb.Job) -> None:
        req = pb.CompleteJobRequest(job_id=job.id, worker_id=self.id, lease_id=job.lease_id)
        await self.stub.CompleteJob(req, metadata=self.md)

    async def fail(self, job: pb.Job, *, retry: bool) -> str:
        req = pb.FailJobRequest(
            job_id=job.id, worker_id=self.id, lease_id=job.lease_id, error="boom", retry=retry
        )
        return (await self.stub.FailJob(req, metadata=self.md)).status


@pytest.fixture(scope="module")
async def worked(service: Service) -> AsyncIterator[Worker]:
    """The activity every test here reads back (module-scoped: one run, several checks).

    emails:   4 enqueued, 3 claimed; 1 completed, 1 dead-lettered, 1 still processing, 1 pending.
    reports:  1 enqueued, claimed, failed with retries left: pending again, 1 retry.
    zz-small: 1 enqueued, claimed: processing. Its claim comes after the two
              label values are taken, so its wait is observed under ``_other``.
    """
    async with grpc.aio.insecure_channel(service.grpc_addr, options=rpc.CHANNEL_OPTIONS) as ch:
        w = Worker(queue_core_pb2_grpc.QueueCoreStub(ch))
        reg = pb.RegisterWorkerRequest(queue_name="emails", hostname="h", worker_id=w.id)
        await w.stub.RegisterWorker(reg, metadata=w.md)
        await w.enqueue("emails", 4)
        await w.enqueue("reports", max_retries=3)
        await w.enqueue("zz-small")
        emails = await w.claim("emails", 3)
        await w.complete(emails[0])
        assert await w.fail(emails[1], retry=False) == "deadletter"
        [report] = await w.claim("reports", 1)
        assert await w.fail(report, retry=True) == "pending"
        await w.claim("zz-small", 1)
        yield w


async def test_counters_count_what_happened(service: Service, worked: Worker) -> None:
    s = await scrape(service)
    assert value(s, "spooled_jobs_enqueued_total") == 6
    assert value(s, "spooled_jobs_claimed_total") == 5
    assert value(s, "spooled_jobs_completed_total") == 1
    assert value(s, "spooled_jobs_failed_total") == 2
    assert value(s, "spooled_jobs_deadlettered_total") == 1
    assert value(s, "spooled_jobs_retried_total", queue="reports") == 1
    assert value(s, "spooled_jobs_retried_total", queue="emails") is None


async def test_histograms_are_per_queue_and_bounded(service: Service, worked: Worker) -> None:
    s = await scrape(service)
    # Time to start: one observation per claimed job, under its queue's label.
    wait = {q: value(s, "spooled_job_wait_seconds_count", queue=q) for q in ("emails", "reports")}
    assert wait == {"emails": 3, "reports": 1}
    # The third queue came after the two label values were taken.
    assert value(s, "spooled_job_wait_seconds_count", queue=OTHER) == 1
    assert {d["queue"] for d in series(s, "spooled_job_wait_seconds_count")} == {
        "emails", "reports", OTHER
    }  # fmt: skip
    # Processing time: completed jobs only.
    assert value(s, "spooled_job_duration_seconds_count", queue="emails") == 1
    assert value(s, "spooled_job_duration_seconds_bucket", queue="emails", le="+Inf") == 1
    duration = value(s, "spooled_job_duration_seconds_sum", queue="emails")
    assert duration is not None and 0 <= duration < 300
    assert value(s, "spooled_job_duration_seconds_count", queue="reports") is None


async def test_database_gauges_show_the_backlog_per_queue(service: Service, worked: Worker) -> None:
    s = await scrape(service)
    gauges = {
        name: {d["queue"]: value(s, name, **d) for d in series(s, name)}
        for name in ("spooled_jobs_pending", "spooled_jobs_processing", "spooled_jobs_deadletter")
    }
    # Depths: emails 3, reports 1, zz-small 1; two label values, ties by name,
    # so zz-small is folded into _other.
    assert gauges == {
        "spooled_jobs_pending": {"emails": 1, "reports": 1, OTHER: 0},
        "spooled_jobs_processing": {"emails": 1, "reports": 0, OTHER: 1},
        "spooled_jobs_deadletter": {"emails": 1, "reports": 0, OTHER: 0},
    }
    assert value(s, "spooled_workers_active") == 1
    assert value(s, "spooled_workers_healthy") == 1
    assert value(s, "spooled_job_max_age_seconds", queue=OTHER) == 0  # its job is running
    assert (value(s, "spooled_queue_stats_refreshes_total", outcome="ok") or 0) >= 1


async def test_oldest_job_age_is_measured_from_when_it_could_run(
    service: Service, worked: Worker, pool: asyncpg.Pool
) -> None:
    # The pending emails job has waited an hour (as if enqueued then).
    await sql(
        pool,
        "UPDATE core.jobs SET created_at = now() - interval '1 hour' "
        "WHERE queue_name = 'emails' AND status = 'pending'",
    )
    age = value(await scrape(service), "spooled_job_max_age_seconds", queue="emails")
    assert age is not None and 3600 <= age < 3600 + 300
    # Scheduled for the future: not waiting for a worker yet, so no age.
    await sql(
        pool,
        "UPDATE core.jobs SET scheduled_at = now() + interval '1 hour' "
        "WHERE queue_name = 'emails' AND status = 'pending'",
    )
    s = await scrape(service)
    assert value(s, "spooled_job_max_age_seconds", queue="emails") == 0
    assert value(s, "spooled_jobs_pending", queue="emails") == 1
