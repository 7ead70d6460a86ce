"""A worker process for the crash test: claims and completes jobs through the SDK's REST API.

    python _worker.py --base-url URL --api-key KEY --queue Q --tag w1 --log PATH

Runs ``--threads`` loops of ``claim(limit=--batch, lease=--lease)`` then ``complete`` per
job, writing one JSON line per event to ``--log`` (flushed at once, so a ``kill -9`` loses
at most a torn last line):

    {"ev": "claimed", "job": ID, "lease": LEASE_ID, "retry_count": N}
    {"ev": "completed", "job": ID}           the API acknowledged the completion
    {"ev": "rejected", "job": ID, "code": C}  the API refused it (e.g. LEASE_EXPIRED)
    {"ev": "error", "job": ID, "error": E}    no answer (service down, timeout)

The result written into each job is ``{"n", "worker", "lease_id", "retry_count"}``.
SIGTERM stops claiming; in-flight batches finish; exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from typing import Any

from spooled import SpooledClient, SpooledError
from spooled.config import CircuitBreakerConfig, RetryConfig


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--lease", type=int, default=5)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--work-ms", type=float, default=10.0)
    args = p.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process lifetime

    def emit(**event: Any) -> None:
        line = json.dumps(event)
        with lock:
            log.write(line + "\n")
            log.flush()

    def client() -> SpooledClient:
        return SpooledClient(
            api_key=args.api_key,
            base_url=args.base_url,
            timeout=10.0,
            retry=RetryConfig(max_retries=3, base_delay=0.2, max_delay=1.0),
            circuit_breaker=CircuitBreakerConfig(enabled=False),
        )

    setup = client()
    worker_id = setup.workers.register(
        {"queue_name": args.queue, "hostname": "crash-test", "worker_id": args.tag}
    ).id
    emit(ev="registered", worker_id=worker_id, pid=os.getpid())

    def loop() -> None:
        c = client()
        while not stop.is_set():
            try:
                jobs = c.jobs.claim(
                    {
                        "queue_name": args.queue,
                        "worker_id": worker_id,
                        "limit": args.batch,
                        "lease_duration_secs": args.lease,
                    }
                ).jobs
            except Exception as exc:
                emit(ev="claim_error", error=repr(exc)[:200])
                time.sleep(0.2)
                continue
            if not jobs:
                time.sleep(0.05)
                continue
            for job in jobs:
                emit(ev="claimed", job=job.id, lease=job.lease_id, retry_count=job.retry_count)
            for job in jobs:
                time.sleep(args.work_ms / 1000)
                result = {
                    "n": job.payload.get("n"),
                    "worker": args.tag,
                    "lease_id": job.lease_id,
                    "retry_count": job.retry_count,
                }
                try:
                    c.jobs.complete(
                        job.id, {"worker_id": worker_id, "result": result, "lease_id": job.lease_id}
                    )
                except SpooledError as exc:
                    if exc.status_code and exc.status_code < 500:
                        emit(ev="rejected", job=job.id, code=exc.code, status=exc.status_code)
                    else:
                        emit(ev="error", job=job.id, error=repr(exc)[:200])
                    continue
                except Exception as exc:
                    emit(ev="error", job=job.id, error=repr(exc)[:200])
                    continue
                emit(ev="completed", job=job.id)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emit(ev="stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
