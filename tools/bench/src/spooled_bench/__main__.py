"""`make bench`: the workloads of issue 7 through the public API, one JSON line each, then a table.

Starts its own suite (like `make run`, on free ports, data under .dev/bench)
unless SPOOLED_BENCH_URL and SPOOLED_BENCH_API_KEY point at a running one
(then SPOOLED_BENCH_GRPC, SPOOLED_BENCH_DATABASE_URL, SPOOLED_BENCH_ORG_ID
and SPOOLED_BENCH_PIDS (JSON {name: pid}) too, for the gRPC, database-verified
and per-process workloads). Numbers are printed, never asserted.

Workloads (``--only a,b`` or SPOOLED_BENCH_ONLY; default: all but depth):

  w1-rest   20,000 jobs via POST /jobs/bulk, 100 per request, concurrent requests
  w1-grpc   the same via gRPC spooled.batch.v1 EnqueueBatch
  w2-grpc   drain 20,000 no-op jobs: one worker process, ProcessJobs stream, 10 in flight
  w2-rest   the same with REST claim/complete (fewer jobs: --rest-drain-jobs)
  w2-best   drain 20,000 with the best worker setting found (--best-in-flight/--best-batch)
  w3        single jobs at a steady 500/s (and 100/s: --w3-rates) for 20 s, one worker
            (10 in flight) on them; latency = completion acknowledged - scheduled send
  single    POST /jobs latency at concurrency 1 and 50
  depth     claim latency with 1k / 100k / 1M pending jobs seeded in SQL (--depths)

`--repeat N` runs each selected workload N times; the table shows medians.
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
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from spooled_bench import cpu, depth, drain, producers
from spooled_bench.progress import Progress, say
from spooled_bench.target import Target, create_bench_org
from spooled_bench.worker import Args

ALL = ["w1-rest", "w1-grpc", "w2-grpc", "w2-rest", "w2-best", "w3", "single"]
OPTIONAL = ["depth"]
TARGETS = {
    "W1 bulk enqueue (REST)": ("jobs_per_sec", ">= 25,000 jobs/s"),
    "W1 bulk enqueue (gRPC batch)": ("jobs_per_sec", ">= 25,000 jobs/s"),
    "W2 drain (gRPC ProcessJobs, 10 in flight)": ("jobs_per_sec", ">= 8,000 jobs/s"),
    "W2 drain (best setting)": ("jobs_per_sec", ">= 20,000 jobs/s"),
    "W3 latency at 500 jobs/s": ("p50_ms", "p50 <= 5 ms, p99 <= 20 ms"),
    "POST /jobs latency, concurrency 50": ("p50_ms", ""),
    "POST /jobs latency, concurrency 1": ("p50_ms", "p50 <= 2 ms"),
}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 2)


class Bench:
    def __init__(self, target: Target, opts: argparse.Namespace) -> None:
        self.t = target
        self.o = opts
        self.rest = producers.Rest(target.base_url, target.api_key)
        self.results: list[dict[str, Any]] = []
        self.run_id = secrets.token_hex(3)

    def report(self, **row: Any) -> None:
        self.results.append(row)
        print(orjson.dumps(row).decode(), flush=True)

    def queue(self, name: str, run: int) -> str:
        return f"bench-{self.run_id}-{name}-{run}"

    def worker_args(self, queue: str, expected: int, **kw: Any) -> Args:
        return Args(
            queue=queue,
            expected=expected,
            grpc_addr=self.t.grpc_addr,
            base_url=self.t.base_url,
            api_key=self.t.api_key,
            **kw,
        )

    # -- W1 --------------------------------------------------------------------
    async def w1_rest(self, queue: str) -> None:
        n = self.o.jobs
        bar = Progress("W1 REST bulk enqueue", n)
        before = cpu.snapshot(self.t.pids)
        dt = await producers.bulk_rest(self.rest, queue, n, self.o.concurrency, bar)
        bar.finish()
        self.report(
            workload="W1 bulk enqueue (REST)",
            jobs=n,
            concurrency=self.o.concurrency,
            seconds=round(dt, 3),
            jobs_per_sec=round(n / dt),
            cpu_ms_per_job=cpu.per_job_ms(before, cpu.snapshot(self.t.pids), n),
        )

    async def w1_grpc(self, queue: str) -> None:
        n = self.o.jobs
        bar = Progress("W1 gRPC batch enqueue", n)
        before = cpu.snapshot(self.t.pids)
        dt = await producers.batch_grpc(
            self.t.grpc_addr, self.t.api_key, queue, n, self.o.concurrency, bar
        )
        bar.finish()
        self.report(
            workload="W1 bulk enqueue (gRPC batch)",
            jobs=n,
            concurrency=self.o.concurrency,
            seconds=round(dt, 3),
            jobs_per_sec=round(n / dt),
            cpu_ms_per_job=cpu.per_job_ms(before, cpu.snapshot(self.t.pids), n),
        )

    async def fill(self, queue: str, n: int) -> None:
        """Untimed: put n jobs in a queue for a drain workload."""
        bar = Progress(f"prepare {n} jobs", n)
        await producers.batch_grpc(self.t.grpc_addr, self.t.api_key, queue, n, 4, bar)
        bar.finish()

    # -- W2 --------------------------------------------------------------------
    async def w2(self, label: str, queue: str, n: int, args: Args) -> None:
        bar = Progress(label, n)
        before = cpu.snapshot(self.t.pids)
        async with drain.peak_rss(self.t.services) as peaks:
            out = await drain.run_worker(args, self.t, bar)
        bar.finish()
        spent = cpu.per_job_ms(before, cpu.snapshot(self.t.pids), n)
        spent["worker"] = round(out["cpu_seconds"] * 1000 / n, 3)
        row: dict[str, Any] = {"workload": label, "jobs": n}
        if self.t.database_url:
            db = await self.t.drained(queue)
            span = db["span"] or out["seconds"]
            row.update(
                seconds=round(span, 3),
                jobs_per_sec=round(db["completed"] / span),
                completed_in_db=db["completed"],
                timed_by="database: first started_at to last completed_at",
            )
        else:
            row.update(
                seconds=round(out["seconds"], 3),
                jobs_per_sec=round(out["completed"] / out["seconds"]),
                timed_by="worker clock",
            )
        row.update(
            worker_errors=out["errors"],
            in_flight=args.in_flight,
            batch=args.batch,
            peak_rss_mib=peaks,
            cpu_ms_per_job=spent,
        )
        if out["first_error"]:
            row["first_error"] = out["first_error"]
        self.report(**row)

    # -- W3 --------------------------------------------------------------------
    async def w3(self, queue: str, rate: float) -> None:
        secs = self.o.w3_seconds
        total = int(rate * secs)
        args = self.worker_args(queue, total, mode="grpc", in_flight=10, batch=10, latency=True)
        worker = asyncio.create_task(drain.run_worker(args, self.t))
        await asyncio.sleep(1.0)  # the worker's stream is open and waiting
        bar = Progress(f"W3 steady {rate:.0f}/s for {secs:.0f} s", total)
        t0 = time.perf_counter()
        failures = await producers.steady(self.rest, queue, rate, secs, bar)
        bar.finish()
        out = await worker
        span = time.perf_counter() - t0
        lat = out["latencies_ms"]
        self.report(
            workload=f"W3 latency at {rate:.0f} jobs/s",
            sent=total,
            completed=out["completed"],
            enqueue_failures=failures,
            # Below the offered rate means the suite could not keep up: jobs
            # queue, and latency grows with the run's length.
            completed_per_sec=round(out["completed"] / span),
            p50_ms=pct(lat, 50),
            p95_ms=pct(lat, 95),
            p99_ms=pct(lat, 99),
            max_ms=pct(lat, 100),
        )

    # -- single ----------------------------------------------------------------
    async def single(self, queue: str, concurrency: int, requests: int) -> None:
        bar = Progress(f"POST /jobs at concurrency {concurrency}", requests)
        before = cpu.snapshot(self.t.pids)
        lat, dt = await producers.single_latency(self.rest, queue, requests, concurrency, bar)
        bar.finish()
        self.report(
            workload=f"POST /jobs latency, concurrency {concurrency}",
            requests=requests,
            p50_ms=pct(lat, 50),
            p99_ms=pct(lat, 99),
            req_per_sec=round(requests / dt),
            cpu_ms_per_job=cpu.per_job_ms(before, cpu.snapshot(self.t.pids), requests),
        )

    # -- depth -----------------------------------------------------------------
    async def depth(self, run: int) -> None:
        for count in self.o.depths:
            queue = self.queue(f"depth{count}", run)
            await depth.seed(self.t, queue, count)
            await depth.claim_latencies(self.rest, queue, 20)  # warm the path
            lat = await depth.claim_latencies(self.rest, queue, self.o.depth_claims)
            in_db = await depth.sql_claim_latencies(self.t, queue, self.o.depth_claims)
            self.report(
                workload=f"claim latency at depth {count:,}",
                pending=count,
                claims=len(lat),
                p50_ms=pct(lat, 50),
                p99_ms=pct(lat, 99),
                statement_p50_ms=pct(in_db, 50),
                statement_p99_ms=pct(in_db, 99),
            )
            await depth.cleanup(self.t, queue)

    async def settle(self) -> None:
        """Let the previous workload's events reach NATS (and their consumers) first.

        Every job leaves three outbox events that the relay publishes after
        the fact; measuring the next workload while that backlog is relayed,
        and consumed by webhooks and realtime, would bill it for the last one.
        """
        if not self.t.database_url:
            return
        t0 = time.perf_counter()
        async with self.t.db() as conn:
            await conn.execute("SELECT set_config('app.maintenance', 'on', false)")
            while time.perf_counter() - t0 < self.o.settle_max:
                left = await conn.fetchval(
                    "SELECT count(*) FROM core.outbox WHERE published_at IS NULL"
                )
                if not left:
                    break
                await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # consumers finish what was just published
        waited = time.perf_counter() - t0
        if waited > 2:
            say(f"  (waited {waited:.0f} s for the event backlog to be relayed)")

    # -- the run ---------------------------------------------------------------
    async def run(self, selected: list[str]) -> None:
        o = self.o
        for run in range(o.repeat):
            if o.repeat > 1:
                say(f"bench: run {run + 1} of {o.repeat}")
            w1_rest_q, w1_grpc_q = self.queue("w1rest", run), self.queue("w1grpc", run)
            if "w1-rest" in selected:
                await self.settle()
                await self.w1_rest(w1_rest_q)
            if "w1-grpc" in selected:
                await self.settle()
                await self.w1_grpc(w1_grpc_q)
            if "w2-grpc" in selected:
                if "w1-rest" not in selected:
                    await self.fill(w1_rest_q, o.jobs)
                args = self.worker_args(w1_rest_q, o.jobs, mode="grpc", in_flight=10, batch=10)
                await self.settle()
                await self.w2("W2 drain (gRPC ProcessJobs, 10 in flight)", w1_rest_q, o.jobs, args)
            if "w2-best" in selected:
                if "w1-grpc" not in selected:
                    await self.fill(w1_grpc_q, o.jobs)
                args = self.worker_args(
                    w1_grpc_q, o.jobs, mode="grpc", in_flight=o.best_in_flight, batch=o.best_batch
                )
                await self.settle()
                await self.w2("W2 drain (best setting)", w1_grpc_q, o.jobs, args)
            if "w2-rest" in selected:
                q, n = self.queue("w2rest", run), o.rest_drain_jobs
                await self.fill(q, n)
                args = self.worker_args(q, n, mode="rest", in_flight=10, batch=10)
                await self.settle()
                await self.w2("W2 drain (REST claim/complete, 10 in flight)", q, n, args)
            if "w3" in selected:
                for rate in o.w3_rates:
                    await self.settle()
                    await self.w3(self.queue(f"w3-{rate:.0f}", run), rate)
            if "single" in selected:
                await self.settle()
                await self.single(self.queue("single1", run), 1, o.single_requests)
                await self.settle()
                await self.single(self.queue("single50", run), 50, o.single_requests * 4)
            if "depth" in selected:
                await self.depth(run)
        await self.rest.close()

    def table(self) -> None:
        """Medians over the runs, one row per workload."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.results:
            groups[row["workload"]].append(row)
        runs = self.o.repeat
        print(
            f"\n| workload | result ({'median of ' + str(runs) + ' runs' if runs > 1 else 'one run'}) | target |"
        )
        print("|---|---|---|")
        for name, rows in groups.items():
            merged = _median_row(rows)
            shown = ", ".join(
                f"{k}={_fmt(v)}" for k, v in merged.items() if k not in ("workload", "timed_by")
            )
            print(f"| {name} | {shown} | {TARGETS.get(name, ('', ''))[1]} |")


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in rows[0].items():
        values = [r.get(key) for r in rows]
        if isinstance(value, int | float) and not isinstance(value, bool):
            med = statistics.median(v for v in values if isinstance(v, int | float))
            out[key] = round(med, 2) if isinstance(med, float) else med
        elif isinstance(value, dict):
            out[key] = _median_row([v for v in values if isinstance(v, dict)])
        else:
            out[key] = value
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="spooled-bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--only", default=env("SPOOLED_BENCH_ONLY", ""), help="comma list of workloads")
    p.add_argument("--repeat", type=int, default=int(env("SPOOLED_BENCH_REPEAT", "1")))
    p.add_argument("--jobs", type=int, default=int(env("SPOOLED_BENCH_JOBS", "20000")))
    p.add_argument("--concurrency", type=int, default=16, help="W1 requests in flight")
    p.add_argument("--rest-drain-jobs", type=int, default=5000)
    p.add_argument("--best-in-flight", type=int, default=1000)
    p.add_argument("--best-batch", type=int, default=100)
    p.add_argument(
        "--w3-rates",
        default="500,100",
        help="steady enqueue rates of W3 (the target's 500/s, and one the suite sustains here)",
    )
    p.add_argument("--w3-seconds", type=float, default=20.0)
    p.add_argument("--single-requests", type=int, default=500)
    p.add_argument("--depths", default="1000,100000,1000000")
    p.add_argument("--depth-claims", type=int, default=200)
    p.add_argument(
        "--settle-max", type=float, default=90.0, help="longest wait for the event backlog"
    )
    opts = p.parse_args(argv)
    opts.depths = [int(x) for x in opts.depths.split(",") if x]
    opts.w3_rates = [float(x) for x in opts.w3_rates.split(",") if x]
    opts.jobs = max(producers.BATCH, opts.jobs // producers.BATCH * producers.BATCH)
    opts.rest_drain_jobs = max(
        producers.BATCH, opts.rest_drain_jobs // producers.BATCH * producers.BATCH
    )
    return opts


def _selected(only: str) -> list[str]:
    if not only:
        return list(ALL)
    chosen = [w.strip() for w in only.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in ALL + OPTIONAL]
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(unknown)}; choose from {ALL + OPTIONAL}")
    return chosen


async def _bench(target: Target, opts: argparse.Namespace, selected: list[str]) -> None:
    import logging

    logging.getLogger("asyncio").setLevel(logging.ERROR)
    bench = Bench(target, opts)
    say(f"bench: {', '.join(selected)} against {target.base_url} (gRPC {target.grpc_addr})")
    t0 = time.perf_counter()
    await bench.run(selected)
    bench.table()
    say(f"bench: done in {time.perf_counter() - t0:.0f} s")


def _postmaster(stack: Any) -> dict[str, int]:
    """{"postgres": pid} of the embedded server, for CPU accounting of its backends."""
    if stack.postgres is None:
        return {}
    pidfile = stack.postgres.data_dir / "pgdata" / "postmaster.pid"
    try:
        return {"postgres": int(pidfile.read_text().split()[0])}
    except (OSError, ValueError, IndexError):
        return {}


def main(argv: list[str] | None = None) -> None:
    import uvloop

    opts = _parse(argv)
    selected = _selected(opts.only)
    url, key = os.environ.get("SPOOLED_BENCH_URL"), os.environ.get("SPOOLED_BENCH_API_KEY")
    if url and key:
        target = Target(
            base_url=url,
            grpc_addr=os.environ.get("SPOOLED_BENCH_GRPC", "127.0.0.1:50051"),
            api_key=key,
            org_id=os.environ.get("SPOOLED_BENCH_ORG_ID", ""),
            database_url=os.environ.get("SPOOLED_BENCH_DATABASE_URL", ""),
            # {"gateway": pid, ..., "postgres": postmaster pid} for RSS and CPU accounting.
            pids=orjson.loads(os.environ.get("SPOOLED_BENCH_PIDS", "{}")),
        )
        uvloop.run(_bench(target, opts, selected))
        return
    from spooled_testing.stack import running_stack

    base = Path(".dev/bench")
    shutil.rmtree(base, ignore_errors=True)
    say("bench: starting a private suite under .dev/bench ...")
    with running_stack(base) as stack:
        api_key, org_id = create_bench_org(stack.base_url, stack.admin_key)
        target = Target(
            base_url=stack.base_url,
            grpc_addr=stack.grpc_address,
            api_key=api_key,
            org_id=org_id,
            database_url=stack.database_url,
            pids={
                **{n: s.proc.pid for n, s in stack.services.items() if s.proc is not None},
                **_postmaster(stack),
            },
            private=True,
        )
        uvloop.run(_bench(target, opts, selected))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
