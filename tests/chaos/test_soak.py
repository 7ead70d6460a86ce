"""Soak: 100 clients enqueuing and 20 workers processing for 2 minutes (issue 8.4).

``SPOOLED_SOAK_SECS`` sets the duration (120 by default, as `make chaos` runs it), and
``SPOOLED_SOAK_THINK_S`` each client's pause between jobs. Everything stays on loopback.

After a warm-up the test samples the resident memory of every service process (and its
children) and the latency of every acknowledged create. It asserts:

* zero 5xx answers and no job lost: every acknowledged job completed, once;
* memory does not keep growing: each service's RSS at the end is within a bound of its RSS
  after the warm-up (a leak proportional to requests would break it over 10^4+ jobs);
* latency stays stable: the p99 create latency of the last window is within a ratio of the
  first window's. Only a ratio is asserted, never an absolute time — speed is for
  `make bench`; a 2-core machine shared with other work varies too much for more.
"""

from __future__ import annotations

import os
import time

import pytest
from e2e.conftest import Db, Org, unique
from spooled_testing import reliability
from spooled_testing.stack import Stack

from .checks import job_outcome, wait_completed
from .conftest import Supervisor
from .load import Load, percentile, rss_bytes

SOAK_S = float(os.environ.get("SPOOLED_SOAK_SECS", "120"))
THINK_S = float(os.environ.get("SPOOLED_SOAK_THINK_S", "0.5"))
CLIENTS = 100
WORKERS = 20
#: Warm-up before the baseline (imports, caches, pools, JIT-free Python still allocates).
WARMUP_S = min(20.0, SOAK_S / 5)
#: Latency windows compared: the first after the warm-up and the last.
WINDOW_S = max(10.0, SOAK_S / 6)
#: Memory bound: the end may exceed the post-warm-up baseline by this much at most.
RSS_SLACK_BYTES = 64 * 1024 * 1024
RSS_SLACK_RATIO = 0.5
#: The last window's p99 may be at most this many times the first's.
P99_RATIO = 4.0
MIB = 1024 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(SOAK_S + 300)]


def _rss(stack: Stack) -> dict[str, int]:
    return {name: rss_bytes(svc.proc.pid) for name, svc in stack.services.items() if svc.proc}


def test_soak_100_clients_20_workers(
    stack: Stack, supervisor: Supervisor, db: Db, fresh_org: Org
) -> None:
    org, queue = fresh_org, unique("soak")
    restarts = {name: svc.restarts for name, svc in stack.services.items()}
    load = Load(
        stack.base_url,
        org.api_key,
        queue,
        enqueuers=CLIENTS,
        workers=WORKERS,
        think_s=THINK_S,
        batch=10,
        lease_s=30,
        tag="soak",
    ).start()
    tally = load.tally
    t0 = time.monotonic()
    samples: list[tuple[float, dict[str, int]]] = []
    try:
        time.sleep(WARMUP_S)
        baseline = _rss(stack)
        warm_at = time.monotonic()
        while time.monotonic() - t0 < SOAK_S:
            time.sleep(min(5.0, max(0.0, SOAK_S - (time.monotonic() - t0))))
            samples.append((time.monotonic() - t0, _rss(stack)))
            assert load.running, "the load generator stopped"
        end_at = time.monotonic()
        final = _rss(stack)
        load.stop_enqueuing()
        time.sleep(0.5)
        backlog_from = time.monotonic()
        wait_completed(db, org, queue, tally.acked_ids(), timeout=180)
        drain_s = time.monotonic() - backlog_from
    finally:
        load.stop()

    # -- correctness under load ----------------------------------------------------------
    assert {n: s.restarts for n, s in stack.services.items()} == restarts, "a service died"
    assert tally.bad == [], f"{tally.bad_count} bad answers: {tally.bad}"
    assert tally.count(range(500, 600)) == 0, tally.statuses
    jobs = job_outcome(db, org, queue, tally)
    assert jobs.lost == 0, jobs.detail
    assert jobs.duplicates == 0, jobs.detail
    assert jobs.acknowledged > CLIENTS, "hardly any load was generated (test inconclusive)"

    # -- memory --------------------------------------------------------------------------
    growth = {name: final[name] - baseline[name] for name in baseline}
    over = {
        name: f"{baseline[name] / MIB:.0f} -> {final[name] / MIB:.0f} MiB"
        for name in baseline
        if final[name] > baseline[name] + max(RSS_SLACK_BYTES, RSS_SLACK_RATIO * baseline[name])
    }
    assert over == {}, f"RSS grew past the bound: {over}; samples: {samples}"

    # -- latency -------------------------------------------------------------------------
    first = tally.latency_window(warm_at, warm_at + WINDOW_S)
    last = tally.latency_window(end_at - WINDOW_S, end_at)
    assert len(first) >= 50 and len(last) >= 50, (len(first), len(last))
    p99_first, p99_last = percentile(first, 99), percentile(last, 99)
    assert p99_last <= P99_RATIO * p99_first, (
        f"p99 create latency went from {p99_first * 1000:.0f} ms (first {WINDOW_S:.0f} s after "
        f"warm-up) to {p99_last * 1000:.0f} ms (last {WINDOW_S:.0f} s)"
    )

    rate = jobs.acknowledged / (end_at - t0)
    worst = max(growth, key=lambda n: growth[n])
    print(
        f"soak: {jobs.acknowledged} jobs in {end_at - t0:.0f}s ({rate:.0f}/s), drain "
        f"{drain_s:.1f}s, p99 {p99_first * 1000:.0f} -> {p99_last * 1000:.0f} ms, RSS growth "
        + ", ".join(f"{n} {g / MIB:+.1f} MiB" for n, g in growth.items())
    )
    reliability.record(
        "load",
        f"soak: {CLIENTS} clients enqueuing, {WORKERS} workers, {SOAK_S:.0f} s",
        f"zero 5xx, no job lost or completed twice; each service's RSS within "
        f"+max({RSS_SLACK_BYTES // MIB} MiB, {RSS_SLACK_RATIO:.0%}) of its post-warm-up value; "
        f"p99 create latency of the last {WINDOW_S:.0f} s within {P99_RATIO:.0f}x the first's",
        f"{rate:.0f} jobs/s acknowledged; p99 {p99_first * 1000:.0f} ms -> "
        f"{p99_last * 1000:.0f} ms; largest RSS growth {worst} {growth[worst] / MIB:+.1f} MiB; "
        f"backlog drained in {drain_s:.0f} s",
        **jobs.counts(),
        **{"5xx": tally.count(range(500, 600))},
        requests=sum(tally.statuses.values()),
        p99_first_ms=round(p99_first * 1000),
        p99_last_ms=round(p99_last * 1000),
    )
