"""Postgres restarted and Redis stopped under load (issue 8.2; the NATS outage is its own file).

* **Postgres** is crashed (``pg_ctl -m immediate``: no checkpoint, every connection cut), or
  restarted as an operator would (``-m fast``: each session is told FATAL 57P01 first), while
  REST clients create and complete jobs and a gRPC client (the SDK's) enqueues. While it is
  down every service's readiness probe says not ready, REST clients get 503 with
  ``Retry-After`` and gRPC clients ``UNAVAILABLE`` — never a 500 or ``INTERNAL``. It comes
  back on the same port and every service reconnects by itself: same processes, no restart.
  Nothing acknowledged before, during or after is lost, nothing is completed twice.
* **Redis** is stopped under the same load: rate limits fall back to per-replica buckets
  (tests/e2e/test_limits_ratelimit.py checks the limits themselves); here nothing else may
  break — no error, no lost job — and the gateway reports the cache down, then up again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import httpx
import pytest
from e2e.conftest import Db, Org, unique, wait_for
from spooled.errors import NetworkError, SpooledError
from spooled.errors import TimeoutError as SdkTimeout
from spooled.grpc import SpooledGrpcClient
from spooled_testing import reliability
from spooled_testing.stack import Stack

from .checks import completed_count, job_outcome, wait_completed
from .conftest import Supervisor
from .load import Load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

WARM = 60
AFTER = 100
#: How long Postgres stays down (after every service noticed).
PG_DOWN_S = 5.0
REDIS_DOWN_S = 10.0
#: Services whose readiness depends on Postgres (realtime only needs NATS).
DB_SERVICES = ["gateway", "queue-core", "scheduler", "webhooks", "billing"]


class GrpcEnqueuer:
    """The SDK's gRPC client enqueuing in a loop, retrying UNAVAILABLE as SDK users do."""

    def __init__(self, stack: Stack, org: Org, queue: str) -> None:
        self.client = SpooledGrpcClient(address=stack.grpc_address, api_key=org.api_key, timeout=10)
        self.queue = queue
        self.codes: Counter[str] = Counter()
        self.acked: dict[str, str] = {}
        self.bad: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="grpc-enqueuer")

    def start(self) -> GrpcEnqueuer:
        assert self.client.wait_for_ready(10), "gRPC channel to the gateway did not open"
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            key = f"grpc-{n}"
            while not self._stop.is_set():
                try:
                    job = self.client.queue.enqueue(self.queue, {"n": n}, idempotency_key=key)
                except NetworkError as exc:
                    cause = exc.__cause__
                    code = cause.code() if isinstance(cause, grpc.RpcError) else None
                    self.codes[code.name if code else "network"] += 1
                    time.sleep(0.2)
                    continue
                except SdkTimeout:
                    self.codes["DEADLINE_EXCEEDED"] += 1
                    continue
                except SpooledError as exc:
                    cause = exc.__cause__
                    code = cause.code() if isinstance(cause, grpc.RpcError) else None
                    self.codes[code.name if code else type(exc).__name__] += 1
                    if len(self.bad) < 10:
                        self.bad.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.2)
                    break
                self.codes["OK"] += 1
                self.acked[key] = job.job_id
                break
            n += 1
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.client.close()


@pytest.fixture
def grpc_enqueuer(stack: Stack, fresh_org: Org) -> Iterator[GrpcEnqueuer]:
    g = GrpcEnqueuer(stack, fresh_org, unique("grpc-pg")).start()
    try:
        yield g
    finally:
        g.stop()


def _ready(stack: Stack, name: str) -> bool:
    return stack.services[name].is_ready()


#: How Postgres goes down: a crash (no goodbye: connections just drop) or a restart by an
#: operator or a managed service (backends send FATAL 57P01 admin_shutdown to clients first).
PG_STOPS = {
    "crash": ("crashed (immediate shutdown) and restarted", "kill"),
    "restart": ("restarted (fast shutdown: sessions terminated)", "stop"),
}


@pytest.mark.parametrize("how", list(PG_STOPS))
def test_postgres_down_under_load(
    how: str,
    stack: Stack,
    supervisor: Supervisor,
    db: Db,
    fresh_org: Org,
    grpc_enqueuer: GrpcEnqueuer,
) -> None:
    assert stack.postgres is not None, "the chaos stack runs its own Postgres"
    org, queue = fresh_org, unique("pg-restart")
    pids = {name: svc.proc.pid for name, svc in stack.services.items() if svc.proc}
    restarts = {name: svc.restarts for name, svc in stack.services.items()}
    load = Load(stack.base_url, org.api_key, queue, tag="pg").start()
    tally = load.tally
    try:
        wait_for(lambda: len(tally.completed_ids()) >= WARM, timeout=60, desc="warm-up")
        t_down = time.monotonic()
        getattr(stack.postgres, PG_STOPS[how][1])()
        try:
            # Every service notices, and says so on its readiness probe.
            for name in DB_SERVICES:
                wait_for(
                    lambda name=name: not _ready(stack, name),  # type: ignore[misc]
                    timeout=30,
                    interval=0.2,
                    desc=f"{name}'s readiness probe to report the database down",
                )
            gw = httpx.get(f"{stack.base_url}/health/ready", timeout=10)
            assert gw.status_code == 503 and gw.json()["database"] is False, gw.text
            # Clients are told to come back later, not that something broke.
            probe = httpx.post(
                f"{stack.base_url}/api/v1/jobs",
                json={"queue_name": unique("probe"), "payload": {}},
                headers={"Authorization": f"Bearer {org.api_key}"},
                timeout=30,
            )
            assert probe.status_code == 503, probe.text
            assert probe.headers.get("retry-after"), probe.headers
            assert probe.json()["code"] == "SERVICE_UNAVAILABLE", probe.text
            time.sleep(max(0.0, PG_DOWN_S - (time.monotonic() - t_down)))
        finally:
            stack.postgres.start()
        outage = time.monotonic() - t_down

        for name in DB_SERVICES:
            wait_for(
                lambda name=name: _ready(stack, name),  # type: ignore[misc]
                timeout=60,
                interval=0.2,
                desc=f"{name} ready again after Postgres returned",
            )
        recovered = time.monotonic() - t_down
        acked_back, done_back = len(tally.acked_ids()), len(tally.completed_ids())
        grpc_back = grpc_enqueuer.codes["OK"]
        wait_for(
            lambda: (
                len(tally.acked_ids()) >= acked_back + AFTER
                and len(tally.completed_ids()) >= done_back + AFTER
                and grpc_enqueuer.codes["OK"] >= grpc_back + 10
            ),
            timeout=90,
            desc=f"{AFTER} more creates and completions after Postgres returned",
        )
        load.stop_enqueuing()
        time.sleep(0.5)
        wait_completed(db, org, queue, tally.acked_ids(), timeout=90)
    finally:
        load.stop()
        grpc_enqueuer.stop()

    # The same processes carried on: they reconnected, nobody restarted them.
    assert {n: s.restarts for n, s in stack.services.items()} == restarts
    assert {n: s.proc.pid for n, s in stack.services.items() if s.proc} == pids

    assert tally.bad == [], (
        f"{tally.bad_count} answers no client should get: {tally.bad}\n"
        + "\n".join(f"--- {n}:\n{s.tail(80)}" for n, s in stack.services.items())
    )
    jobs = job_outcome(db, org, queue, tally)
    assert jobs.lost == 0, jobs.detail
    assert jobs.duplicates == 0, jobs.detail
    assert jobs.unacknowledged == 0, jobs.detail
    assert tally.count(range(503, 504)) > 0, "no client saw the outage (test inconclusive)"

    assert grpc_enqueuer.bad == [], grpc_enqueuer.bad
    assert grpc_enqueuer.codes["UNAVAILABLE"] > 0, f"gRPC never saw it: {grpc_enqueuer.codes}"
    assert set(grpc_enqueuer.codes) <= {"OK", "UNAVAILABLE", "DEADLINE_EXCEEDED"}, (
        grpc_enqueuer.codes
    )
    grpc_ids = list(grpc_enqueuer.acked.values())
    in_db = db.fetchval(
        "SELECT count(*) FROM core.jobs WHERE organization_id = $1 AND id = ANY($2::text[])",
        org.id,
        grpc_ids,
        org=org.id,
    )
    assert in_db == len(grpc_ids), "a job acknowledged over gRPC is missing"

    reliability.record(
        "dependency faults",
        f"Postgres {PG_STOPS[how][0]} during load",
        "readiness probes not ready while down; REST 503 + Retry-After, gRPC UNAVAILABLE, never "
        "500/INTERNAL; services reconnect without restart; no acknowledged job lost or "
        "completed twice",
        f"down {outage:.1f} s, all services ready {recovered:.1f} s after it went down, in the "
        f"same processes; {jobs.acknowledged} REST + {len(grpc_ids)} gRPC jobs acknowledged, "
        "none lost",
        **jobs.counts(),
        **{"5xx": tally.non_503_5xx()},
        answered_503=tally.count(range(503, 504)),
        no_answer=tally.no_answer(),
        grpc_acknowledged=len(grpc_ids),
        grpc_unavailable=grpc_enqueuer.codes["UNAVAILABLE"],
    )


def _cache(stack: Stack) -> bool | None:
    try:
        return bool(httpx.get(f"{stack.base_url}/health", timeout=10).json()["cache"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def test_redis_stopped_under_load(
    stack: Stack, supervisor: Supervisor, db: Db, fresh_org: Org
) -> None:
    assert stack.redis is not None, "the chaos stack runs its own Redis"
    org, queue = fresh_org, unique("no-redis")
    load = Load(stack.base_url, org.api_key, queue, tag="redis").start()
    tally = load.tally
    try:
        wait_for(lambda: len(tally.completed_ids()) >= WARM, timeout=60, desc="warm-up")
        acked_before = len(tally.acked_ids())
        done_before = completed_count(db, org, queue, tally.acked_ids())
        stack.redis.stop()
        try:
            wait_for(lambda: _cache(stack) is False, timeout=30, desc="the gateway to see it")
            time.sleep(REDIS_DOWN_S)
            acked_during = len(tally.acked_ids()) - acked_before
            done_during = completed_count(db, org, queue, tally.acked_ids()) - done_before
        finally:
            stack.redis.start()
        wait_for(lambda: _cache(stack) is True, timeout=30, desc="the gateway to see Redis back")
        load.stop_enqueuing()
        time.sleep(0.5)
        wait_completed(db, org, queue, tally.acked_ids(), timeout=90)
    finally:
        load.stop()

    assert acked_during > 0 and done_during > 0, "work stopped while Redis was down"
    jobs = job_outcome(db, org, queue, tally)
    assert jobs.lost == 0, jobs.detail
    assert jobs.duplicates == 0, jobs.detail
    assert tally.bad == [], f"{tally.bad_count} answers no client should get: {tally.bad}"
    assert tally.count(range(500, 600)) == 0, tally.statuses
    reliability.record(
        "dependency faults",
        f"Redis stopped for {REDIS_DOWN_S:.0f} s during load",
        "jobs keep being created and completed, no error at all (rate limits fall back per "
        "replica), the gateway's /health reports the cache down then up",
        f"{acked_during} jobs created and {done_during} completed while Redis was down; "
        f"{jobs.acknowledged} acknowledged in all, none lost",
        **jobs.counts(),
        **{"5xx": tally.count(range(500, 600))},
    )
