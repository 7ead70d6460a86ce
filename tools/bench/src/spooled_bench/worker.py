"""The bench's worker process: drains a queue of no-op jobs through the public API.

Run as its own process (``python -m spooled_bench.worker '<json args>'``) so
the workload is "one worker process", as a real deployment would run it, and
its CPU is not mixed with the load generator's. Prints one JSON line:
completions, errors and, for latency runs, the pickup latency of each job
(completion acknowledged minus the time the producer was scheduled to send it,
read from the payload's ``t``).

Two clients:

* ``grpc``: one bidirectional ``ProcessJobs`` stream; at most ``in_flight``
  jobs held (claimed, completion not yet acknowledged), refilled with
  ``Dequeue{batch_size}`` as completions come back;
* ``rest``: ``POST /jobs/claim`` then ``POST /jobs/{id}/complete`` per job, with
  at most ``in_flight`` jobs held.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

#: A dequeue that finds nothing waits this long server-side before NO_JOBS.
IDLE_GIVE_UP_S = 30.0


@dataclass
class Args:
    mode: str
    queue: str
    expected: int
    in_flight: int = 10
    batch: int = 10
    grpc_addr: str = ""
    base_url: str = ""
    api_key: str = ""
    #: Record pickup latency from the payload's "t" (W3).
    latency: bool = False
    worker_id: str = "bench-worker"


@dataclass
class Outcome:
    completed: int = 0
    errors: int = 0
    first_error: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: CPU the worker process itself used.
    cpu_seconds: float = 0.0

    def error(self, text: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or text[:300]


class _Stream:
    """The client side of one ProcessJobs stream: what is held, asked for and acknowledged."""

    def __init__(self, a: Args, out: Outcome) -> None:
        from spooled_proto.spooled.v1 import spooled_pb2 as pb

        self.pb = pb
        self.a = a
        self.out = out
        self.requests: asyncio.Queue[Any] = asyncio.Queue()
        #: Claimed jobs whose completion is not acknowledged yet.
        self.held = 0
        # One dequeue at a time: its jobs arrive back to back, so the first
        # other message after one of them (or NO_JOBS) means it is answered.
        self.asked = self.got = 0
        self.open_dequeue = False
        # Send times of jobs whose completion is not acknowledged yet. A
        # stream's acknowledgements carry no job id; they come back in the
        # order the completions were sent (one group commit answers its
        # completions together, in order), so the oldest is the one answered.
        self.sent_at: collections.deque[float] = collections.deque()
        self.idle_since = time.monotonic()

    async def feed(self) -> Any:
        while (req := await self.requests.get()) is not None:
            yield req

    def refill(self) -> None:
        room = self.a.in_flight - self.held
        if self.open_dequeue or room <= 0 or self.out.completed + self.held >= self.a.expected:
            return
        self.asked, self.got, self.open_dequeue = min(self.a.batch, room), 0, True
        dequeue = self.pb.DequeueRequest(
            queue_name=self.a.queue,
            worker_id=self.a.worker_id,
            batch_size=self.asked,
            lease_duration_secs=120,
        )
        self.requests.put_nowait(self.pb.ProcessRequest(dequeue=dequeue))

    def on_job(self, job: Any) -> None:
        self.got += 1
        self.held += 1
        if self.got >= self.asked:
            self.open_dequeue = False
        if self.a.latency:
            self.sent_at.append(job.payload.fields["t"].number_value)
        # A no-op job: complete it at once.
        done = self.pb.CompleteRequest(
            job_id=job.id, worker_id=self.a.worker_id, lease_id=job.lease_id
        )
        self.requests.put_nowait(self.pb.ProcessRequest(complete=done))

    def on_answer(self, kind: str, resp: Any) -> bool:
        """A non-job message; False when the worker should stop."""
        if self.open_dequeue and self.got > 0:
            self.open_dequeue = False
        if kind == "error" and resp.error.code == "NO_JOBS":
            self.open_dequeue = False
            if time.monotonic() - self.idle_since > IDLE_GIVE_UP_S:
                self.out.error(f"no jobs for {IDLE_GIVE_UP_S:.0f} s")
                return False
        elif kind in ("complete", "error"):
            self.held -= 1
            sent = self.sent_at.popleft() if self.a.latency else 0.0
            if kind == "complete":
                self.out.completed += 1
                self.idle_since = time.monotonic()
                if self.a.latency:
                    self.out.latencies_ms.append((time.time() - sent) * 1000)
            else:
                self.out.error(f"{resp.error.code}: {resp.error.message}")
        return self.out.completed + self.out.errors < self.a.expected


async def run_grpc(a: Args) -> Outcome:
    import grpc
    from spooled_proto.spooled.v1 import spooled_pb2_grpc

    out = Outcome()
    stream = _Stream(a, out)
    async with grpc.aio.insecure_channel(a.grpc_addr) as channel:
        stub = spooled_pb2_grpc.QueueServiceStub(channel)
        call = stub.ProcessJobs(stream.feed(), metadata=(("x-api-key", a.api_key),))
        stream.refill()
        t0 = time.perf_counter()
        async for resp in call:
            kind = resp.WhichOneof("response")
            if kind == "job":
                stream.on_job(resp.job)
                continue
            if not stream.on_answer(kind, resp):
                break
            stream.refill()
        out.seconds = time.perf_counter() - t0
        stream.requests.put_nowait(None)
        call.cancel()
    return out


async def run_rest(a: Args) -> Outcome:
    import aiohttp

    out = Outcome()
    headers = {"Authorization": f"Bearer {a.api_key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=a.in_flight + 4)
    async with aiohttp.ClientSession(a.base_url, headers=headers, connector=connector) as http:
        held = asyncio.Semaphore(a.in_flight)
        tasks: set[asyncio.Task[None]] = set()
        idle_since = time.monotonic()

        async def complete(job: dict[str, Any]) -> None:
            body = orjson.dumps(
                {"worker_id": a.worker_id, "lease_id": job["lease_id"], "result": {"ok": True}}
            )
            try:
                async with http.post(f"/api/v1/jobs/{job['id']}/complete", data=body) as r:
                    if r.status == 200:
                        out.completed += 1
                    else:
                        out.error(f"complete {r.status}: {await r.text()}")
            finally:
                held.release()

        t0 = time.perf_counter()
        claimed = 0
        while claimed < a.expected:
            await held.acquire()
            room = 1
            while room < min(a.batch, a.expected - claimed) and held._value > 0:
                await held.acquire()
                room += 1
            body = orjson.dumps(
                {
                    "queue_name": a.queue,
                    "worker_id": a.worker_id,
                    "limit": room,
                    "lease_duration_secs": 120,
                    "wait_ms": 2000,
                }
            )
            async with http.post("/api/v1/jobs/claim", data=body) as r:
                doc = orjson.loads(await r.read())
            jobs = doc.get("jobs") or []
            for _ in range(room - len(jobs)):
                held.release()
            if not jobs:
                if time.monotonic() - idle_since > IDLE_GIVE_UP_S:
                    out.error(f"no jobs for {IDLE_GIVE_UP_S:.0f} s")
                    break
                continue
            idle_since = time.monotonic()
            claimed += len(jobs)
            for job in jobs:
                task = asyncio.create_task(complete(job))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        out.seconds = time.perf_counter() - t0
    return out


async def _main(a: Args) -> Outcome:
    if a.mode == "rest":
        return await run_rest(a)
    return await run_grpc(a)


def main() -> None:
    import uvloop

    a = Args(**orjson.loads(sys.argv[1]))
    out = uvloop.run(_main(a))
    out.cpu_seconds = time.process_time()
    print(orjson.dumps(out.__dict__).decode(), flush=True)


if __name__ == "__main__":
    main()
