"""Steady load through the public REST API, as SDK users would make it, while faults happen.

:class:`Load` runs in a thread with its own event loop, so a test can kill processes and poll
the database from the main thread meanwhile:

* **enqueuers** create jobs one at a time (``POST /jobs``), each with its own idempotency key,
  and retry the same request on a connection error, a 502/503/504 or a 429 (after
  ``Retry-After``) until it is acknowledged — what the SDK's retry policy does. Only a 2xx
  counts as acknowledged; the key makes a retried create return the job it already made;
* **workers** register, heartbeat, long-poll ``POST /jobs/claim`` and complete the claimed
  batch concurrently, each job with its lease, retrying a completion that got no answer until its lease would have expired. A
  completion answered ``409 CONFLICT`` "already completed" was acknowledged by an earlier
  attempt whose answer was lost (the SDK treats it as success too).

Every answer is tallied: statuses per operation, connection errors, and any answer a client
should never see (a 500, a 503 without ``Retry-After``, an unexpected 4xx) with its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: Answers a client retries (after Retry-After when given).
RETRYABLE = {429, 502, 503, 504}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Tally:
    """What the clients saw. Mutated only under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Distinct jobs the enqueuers tried to create (one idempotency key each).
    sent: int = 0
    #: idempotency key -> job id, for every 2xx create.
    acked: dict[str, str] = field(default_factory=dict)
    #: Every idempotency key sent (acknowledged or not).
    tried: set[str] = field(default_factory=set)
    #: job id -> completions acknowledged to workers (200, or 409 "already completed").
    completed: Counter[str] = field(default_factory=Counter)
    #: Completions refused with LEASE_EXPIRED (the job is claimed again later).
    lease_lost: int = 0
    #: (operation, status) -> count; status 0 = no answer (connection error, timeout).
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Answers no client should get, with the body (at most 20 kept).
    bad: list[str] = field(default_factory=list)
    bad_count: int = 0
    #: (monotonic end time, seconds) of each acknowledged create attempt.
    latencies: list[tuple[float, float]] = field(default_factory=list)

    def note(self, op: str, status: int) -> None:
        with self.lock:
            self.statuses[op, status] += 1

    def wrong(self, op: str, resp: httpx.Response) -> None:
        with self.lock:
            self.bad_count += 1
            if len(self.bad) < 20:
                self.bad.append(
                    f"{op}: {resp.status_code} {dict(resp.headers).get('retry-after')!r} "
                    f"{resp.text[:300]}"
                )

    def acked_ids(self) -> list[str]:
        with self.lock:
            return list(self.acked.values())

    def completed_ids(self) -> set[str]:
        with self.lock:
            return set(self.completed)

    def count(self, status_range: range) -> int:
        with self.lock:
            return sum(n for (_, s), n in self.statuses.items() if s in status_range)

    def non_503_5xx(self) -> int:
        with self.lock:
            return sum(n for (_, s), n in self.statuses.items() if 500 <= s < 600 and s != 503)

    def no_answer(self) -> int:
        with self.lock:
            return sum(n for (_, s), n in self.statuses.items() if s == 0)

    def latency_window(self, start: float, end: float) -> list[float]:
        with self.lock:
            return [lat for t, lat in self.latencies if start <= t < end]


class Load:
    """``enqueuers`` clients creating jobs in ``queue`` and ``workers`` processing them."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        queue: str,
        *,
        enqueuers: int = 8,
        workers: int = 4,
        think_s: float = 0.02,
        batch: int = 10,
        lease_s: int = 5,
        work_s: float = 0.002,
        max_retries: int = 20,
        tag: str = "load",
    ) -> None:
        self.base_url, self.api_key, self.queue = base_url, api_key, queue
        self.enqueuers, self.workers = enqueuers, workers
        self.think_s, self.batch, self.lease_s, self.work_s = think_s, batch, lease_s, work_s
        self.max_retries, self.tag = max_retries, tag
        # Worker ids are global across tenants: unique per run, whatever the tag.
        self._nonce = secrets.token_hex(3)
        self.tally = Tally()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"load-{tag}")
        self._enqueue = threading.Event()
        self._work = threading.Event()
        self._started = threading.Event()
        self._failure: BaseException | None = None

    # -- control (from the test's thread) ------------------------------------------------
    def start(self) -> Load:
        self._enqueue.set()
        self._work.set()
        self._thread.start()
        self._started.wait(30)
        return self

    def stop_enqueuing(self) -> None:
        """No new jobs; a create being retried still finishes (or is given up, see stop)."""
        self._enqueue.clear()

    def stop(self, timeout: float = 60) -> None:
        self._enqueue.clear()
        self._work.clear()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"load {self.tag} did not stop within {timeout:.0f}s")
        if self._failure is not None:
            raise AssertionError(f"load {self.tag} crashed: {self._failure!r}")

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- the event loop ------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by stop()
            self._failure = exc
        finally:
            self._loop.close()

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.enqueuers + self.workers * (self.batch + 1) + 4)
        async with httpx.AsyncClient(
            base_url=self.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=limits,
        ) as http:
            tasks = [asyncio.create_task(self._enqueuer(http, i)) for i in range(self.enqueuers)]
            tasks += [asyncio.create_task(self._worker(http, i)) for i in range(self.workers)]
            self._started.set()
            await asyncio.gather(*tasks)

    async def _call(
        self, http: httpx.AsyncClient, op: str, method: str, url: str, body: Any = None
    ) -> httpx.Response | None:
        """One attempt; None when no answer came (the process is down or restarting)."""
        try:
            resp = await http.request(method, url, json=body)
        except httpx.TransportError:
            self.tally.note(op, 0)
            return None
        self.tally.note(op, resp.status_code)
        if resp.status_code >= 500 and (
            resp.status_code != 503 or "retry-after" not in resp.headers
        ):
            self.tally.wrong(op, resp)
        return resp

    @staticmethod
    async def _backoff(resp: httpx.Response | None, attempt: int) -> None:
        delay = min(1.0, 0.05 * 2**attempt)
        if resp is not None and "retry-after" in resp.headers:
            with contextlib.suppress(ValueError):
                delay = min(delay, float(resp.headers["retry-after"]))
        await asyncio.sleep(delay * (0.5 + random.random()))

    # -- enqueuers -----------------------------------------------------------------------
    async def _enqueuer(self, http: httpx.AsyncClient, index: int) -> None:
        n = 0
        while self._enqueue.is_set():
            key = f"{self.tag}-{self._nonce}-{index}-{n}"
            body = {
                "queue_name": self.queue,
                "payload": {"n": n, "enqueuer": index},
                "idempotency_key": key,
                "max_retries": self.max_retries,
            }
            with self.tally.lock:
                self.tally.sent += 1
                self.tally.tried.add(key)
            attempt = 0
            while True:
                t0 = time.monotonic()
                resp = await self._call(http, "create", "POST", "/jobs", body)
                if resp is not None and resp.status_code in (200, 201):
                    t1 = time.monotonic()
                    with self.tally.lock:
                        self.tally.acked[key] = resp.json()["id"]
                        self.tally.latencies.append((t1, t1 - t0))
                    break
                if resp is not None and resp.status_code not in RETRYABLE:
                    self.tally.wrong("create", resp)
                    break
                if not self._work.is_set():
                    break  # the test is over; this one was never acknowledged
                attempt += 1
                await self._backoff(resp, attempt)
            n += 1
            if self.think_s:
                await asyncio.sleep(self.think_s * (0.5 + random.random()))

    # -- workers -------------------------------------------------------------------------
    async def _register(self, http: httpx.AsyncClient, worker_id: str) -> None:
        body = {"queue_name": self.queue, "hostname": "chaos", "worker_id": worker_id}
        attempt = 0
        while self._work.is_set():
            resp = await self._call(http, "register", "POST", "/workers/register", body)
            if resp is not None and resp.status_code in (200, 201):
                return
            if resp is not None and resp.status_code not in RETRYABLE:
                raise AssertionError(f"register: {resp.status_code} {resp.text[:300]}")
            attempt += 1
            await self._backoff(resp, attempt)

    async def _heartbeats(self, http: httpx.AsyncClient, worker_id: str) -> None:
        # Registered workers that fall silent for 2 min go offline (their jobs are released).
        while self._work.is_set():
            await asyncio.sleep(5)
            await self._call(
                http, "heartbeat", "POST", f"/workers/{worker_id}/heartbeat", {"current_jobs": 0}
            )

    async def _worker(self, http: httpx.AsyncClient, index: int) -> None:
        worker_id = f"{self.tag}-{self._nonce}-w{index}"
        await self._register(http, worker_id)
        beats = asyncio.create_task(self._heartbeats(http, worker_id))
        attempt = 0
        try:
            while self._work.is_set():
                body = {
                    "queue_name": self.queue,
                    "worker_id": worker_id,
                    "limit": self.batch,
                    "lease_duration_secs": self.lease_s,
                    "wait_ms": 500,
                }
                resp = await self._call(http, "claim", "POST", "/jobs/claim", body)
                if resp is None or resp.status_code != 200:
                    if resp is not None and resp.status_code not in RETRYABLE:
                        self.tally.wrong("claim", resp)
                    attempt += 1
                    await self._backoff(resp, attempt)
                    continue
                attempt = 0
                # The batch runs concurrently, as an SDK worker's concurrency slots do.
                await asyncio.gather(
                    *(self._process(http, worker_id, job) for job in resp.json()["jobs"])
                )
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _process(self, http: httpx.AsyncClient, worker_id: str, job: dict[str, Any]) -> None:
        await asyncio.sleep(self.work_s)
        await self._complete(http, worker_id, job)

    async def _complete(self, http: httpx.AsyncClient, worker_id: str, job: dict[str, Any]) -> None:
        body = {
            "worker_id": worker_id,
            "lease_id": job["lease_id"],
            "result": {"worker": worker_id, "lease_id": job["lease_id"]},
        }
        deadline = time.monotonic() + self.lease_s
        attempt = 0
        while time.monotonic() < deadline + 1:
            resp = await self._call(http, "complete", "POST", f"/jobs/{job['id']}/complete", body)
            if resp is not None and resp.status_code == 200:
                with self.tally.lock:
                    self.tally.completed[job["id"]] += 1
                return
            if resp is not None and resp.status_code == 409:
                code = resp.json().get("code")
                if code == "LEASE_EXPIRED":
                    with self.tally.lock:
                        self.tally.lease_lost += 1
                elif "already completed" in resp.json().get("message", ""):
                    # An earlier attempt went through; its answer was lost with the process.
                    with self.tally.lock:
                        self.tally.completed[job["id"]] += 1
                else:
                    self.tally.wrong("complete", resp)
                return
            if resp is not None and resp.status_code not in RETRYABLE:
                self.tally.wrong("complete", resp)
                return
            attempt += 1
            await self._backoff(resp, attempt)
        # Gave up: the lease runs out and the job is claimed again.


# -- process memory ----------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in task.read_text().split()]
    return out


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (0 if it is gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/statm").read_text().split()
        except OSError:
            continue
        total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
        todo += _children(p)
    return total
