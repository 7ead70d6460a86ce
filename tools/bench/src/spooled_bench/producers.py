"""Enqueueing load: REST bulk, gRPC batch, single POST /jobs (closed and open loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
import orjson
from spooled_proto.spooled.batch.v1 import batch_pb2, batch_pb2_grpc

from spooled_bench.progress import Progress

#: ~100 bytes of JSON once "n" is filled in.
PAYLOAD: dict[str, Any] = {
    "to": "user@example.com",
    "template": "welcome",
    "locale": "en-US",
    "n": 0,
}
BATCH = 100


def payload(n: int) -> dict[str, Any]:
    return {**PAYLOAD, "n": n}


async def gather_bounded(n: int, concurrency: int, fn: Callable[[int], Awaitable[None]]) -> None:
    """Run fn(0..n-1) with at most ``concurrency`` calls in progress."""
    it = iter(range(n))

    async def runner() -> None:
        for i in it:
            await fn(i)

    await asyncio.gather(*(runner() for _ in range(concurrency)))


class Rest:
    """A keep-alive HTTP client for the public REST API."""

    def __init__(self, base_url: str, api_key: str, connections: int = 64) -> None:
        self.http = aiohttp.ClientSession(
            base_url,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=120),
        )

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.http.post(path, data=orjson.dumps(body)) as r:
            raw = await r.read()
            return r.status, orjson.loads(raw) if raw else None

    async def close(self) -> None:
        await self.http.close()


async def bulk_rest(rest: Rest, queue: str, jobs: int, concurrency: int, bar: Progress) -> float:
    """POST /jobs/bulk, 100 per request; returns the elapsed seconds."""

    async def one(i: int) -> None:
        body = {
            "queue_name": queue,
            "jobs": [{"payload": payload(i * BATCH + k)} for k in range(BATCH)],
        }
        status, doc = await rest.post("/api/v1/jobs/bulk", body)
        if status != 200 or doc["failure_count"]:
            raise RuntimeError(f"bulk batch {i}: {status} {str(doc)[:300]}")
        bar.add(BATCH)

    t0 = time.perf_counter()
    await gather_bounded(jobs // BATCH, concurrency, one)
    return time.perf_counter() - t0


async def batch_grpc(
    addr: str, api_key: str, queue: str, jobs: int, concurrency: int, bar: Progress
) -> float:
    """spooled.batch.v1 EnqueueBatch, 100 per call; returns the elapsed seconds."""
    md = (("x-api-key", api_key),)
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = batch_pb2_grpc.BatchServiceStub(channel)

        async def one(i: int) -> None:
            req = batch_pb2.EnqueueBatchRequest(
                queue_name=queue,
                jobs=[
                    batch_pb2.BatchJob(payload_json=orjson.dumps(payload(i * BATCH + k)))
                    for k in range(BATCH)
                ],
            )
            reply = await stub.EnqueueBatch(req, metadata=md, timeout=120)
            if reply.failure_count:
                raise RuntimeError(f"gRPC batch {i} had failures: {reply.results[0]}")
            bar.add(BATCH)

        t0 = time.perf_counter()
        await gather_bounded(jobs // BATCH, concurrency, one)
        return time.perf_counter() - t0


async def single_latency(
    rest: Rest, queue: str, requests: int, concurrency: int, bar: Progress
) -> tuple[list[float], float]:
    """POST /jobs closed loop; returns (latencies in ms, elapsed seconds)."""
    lat: list[float] = []

    async def one(i: int) -> None:
        t = time.perf_counter()
        status, doc = await rest.post("/api/v1/jobs", {"queue_name": queue, "payload": payload(i)})
        lat.append((time.perf_counter() - t) * 1000)
        if status != 201:
            raise RuntimeError(f"POST /jobs: {status} {doc}")
        bar.add(1)

    t0 = time.perf_counter()
    await gather_bounded(requests, concurrency, one)
    return lat, time.perf_counter() - t0


async def steady(rest: Rest, queue: str, rate: float, seconds: float, bar: Progress) -> int:
    """Open loop: job i is sent at t0 + i/rate whatever the previous answers did.

    Each payload carries ``t``, the wall-clock time it was *scheduled* to be
    sent, so a producer that falls behind shows up as latency, not as a
    slower rate (no coordinated omission). Returns the number of failures.
    """
    total = int(rate * seconds)
    failures = 0
    tasks: set[asyncio.Task[None]] = set()
    wall0, mono0 = time.time(), time.monotonic()

    async def send(i: int) -> None:
        nonlocal failures
        body = {"queue_name": queue, "payload": {**payload(i), "t": wall0 + i / rate}}
        status, _ = await rest.post("/api/v1/jobs", body)
        if status != 201:
            failures += 1
        bar.add(1)

    for i in range(total):
        delay = mono0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return failures
