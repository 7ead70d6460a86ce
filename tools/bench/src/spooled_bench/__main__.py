"""`make bench`: workloads through the public REST API, one JSON line each, then a table.

Starts its own suite (like `make run`, on free ports, data under .dev/bench)
unless SPOOLED_BENCH_URL and SPOOLED_BENCH_API_KEY point at a running one.
Numbers are printed, never asserted: speed is judged here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from spooled_testing.stack import running_stack

PAYLOAD = {"to": "user@example.com", "template": "welcome", "locale": "en-US", "n": 0}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Bench:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=60,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.results: list[dict[str, Any]] = []

    def report(self, **row: Any) -> None:
        self.results.append(row)
        print(orjson.dumps(row).decode(), flush=True)

    async def _gather_bounded(
        self, n: int, concurrency: int, fn: Callable[[int], Awaitable[None]]
    ) -> None:
        it = iter(range(n))

        async def runner() -> None:
            for i in it:
                await fn(i)

        await asyncio.gather(*(runner() for _ in range(concurrency)))

    async def bulk_enqueue(self, queue: str, jobs: int, concurrency: int) -> None:
        batches = (jobs + 99) // 100

        async def one(i: int) -> None:
            body = {
                "queue_name": queue,
                "jobs": [{"payload": {**PAYLOAD, "n": i * 100 + k}} for k in range(100)],
            }
            r = await self.client.post("/api/v1/jobs/bulk", content=orjson.dumps(body))
            r.raise_for_status()
            if r.json()["failure_count"]:
                raise RuntimeError(f"bulk batch {i} had failures: {r.text[:300]}")

        t0 = time.perf_counter()
        await self._gather_bounded(batches, concurrency, one)
        dt = time.perf_counter() - t0
        self.report(
            workload="W1 bulk enqueue (REST)",
            jobs=batches * 100,
            seconds=round(dt, 3),
            jobs_per_sec=round(batches * 100 / dt),
        )

    async def drain_rest(self, queue: str, expected: int, in_flight: int) -> None:
        done = 0
        t0 = time.perf_counter()

        async def worker() -> None:
            nonlocal done
            idle = 0
            while done < expected and idle < 50:
                r = await self.client.post(
                    "/api/v1/jobs/claim",
                    content=orjson.dumps(
                        {
                            "queue_name": queue,
                            "worker_id": "bench-w1",
                            "limit": in_flight,
                            "lease_duration_secs": 60,
                        }
                    ),
                )
                r.raise_for_status()
                jobs = r.json()["jobs"]
                if not jobs:
                    idle += 1
                    await asyncio.sleep(0.02)
                    continue
                idle = 0
                await asyncio.gather(
                    *(
                        self.client.post(
                            f"/api/v1/jobs/{j['id']}/complete",
                            content=orjson.dumps(
                                {
                                    "worker_id": "bench-w1",
                                    "lease_id": j["lease_id"],
                                    "result": {"ok": True},
                                }
                            ),
                        )
                        for j in jobs
                    )
                )
                done += len(jobs)

        await worker()
        dt = time.perf_counter() - t0
        stats = (await self.client.get("/api/v1/jobs/stats", params={"queue_name": queue})).json()
        self.report(
            workload=f"W2 drain (REST claim/complete, {in_flight} in flight)",
            jobs=done,
            seconds=round(dt, 3),
            jobs_per_sec=round(done / dt),
            completed_in_db=stats.get("completed"),
        )

    async def single_enqueue_latency(self, queue: str, requests: int, concurrency: int) -> None:
        lat: list[float] = []

        async def one(i: int) -> None:
            body = orjson.dumps({"queue_name": queue, "payload": {**PAYLOAD, "n": i}})
            t = time.perf_counter()
            r = await self.client.post("/api/v1/jobs", content=body)
            lat.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()

        t0 = time.perf_counter()
        await self._gather_bounded(requests, concurrency, one)
        dt = time.perf_counter() - t0
        self.report(
            workload=f"POST /jobs latency, concurrency {concurrency}",
            requests=requests,
            p50_ms=round(statistics.median(lat), 2),
            p99_ms=round(_pct(lat, 99), 2),
            req_per_sec=round(requests / dt),
        )

    def table(self) -> None:
        print("\n| workload | result |\n|---|---|")
        for row in self.results:
            rest = ", ".join(f"{k}={v}" for k, v in row.items() if k != "workload")
            print(f"| {row['workload']} | {rest} |")


async def _run(base_url: str, api_key: str, jobs: int) -> None:
    bench = Bench(base_url, api_key)
    queue = f"bench-{secrets.token_hex(3)}"
    print(f"bench: {jobs} jobs against {base_url}", file=sys.stderr)
    await bench.bulk_enqueue(queue, jobs, concurrency=8)
    await bench.drain_rest(queue, jobs, in_flight=10)
    await bench.single_enqueue_latency(f"{queue}-single", 300, 1)
    await bench.single_enqueue_latency(f"{queue}-single50", 1000, 50)
    bench.table()
    await bench.client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="spooled-bench")
    parser.add_argument(
        "--jobs", type=int, default=int(os.environ.get("SPOOLED_BENCH_JOBS", 20000))
    )
    args = parser.parse_args()
    url, key = os.environ.get("SPOOLED_BENCH_URL"), os.environ.get("SPOOLED_BENCH_API_KEY")
    if url and key:
        asyncio.run(_run(url, key, args.jobs))
        return
    base = Path(".dev/bench")
    shutil.rmtree(base, ignore_errors=True)
    print("bench: starting a private suite under .dev/bench ...", file=sys.stderr)
    with running_stack(base) as stack:
        asyncio.run(_run(stack.base_url, stack.api_key, args.jobs))


if __name__ == "__main__":
    main()
