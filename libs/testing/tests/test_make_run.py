"""`make run` end to end: the command a newcomer types starts the suite, serves
a job, and stops everything on Ctrl-C (SIGINT) — including embedded Postgres."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from spooled_testing.postgres import free_port


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"did not see {pattern!r} in time; output so far:\n{''.join(seen)}")


def test_run_prints_urls_and_key_serves_jobs_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("PORT", "GRPC_PORT", "QUEUE_CORE_GRPC_PORT",
                                            "QUEUE_CORE_HTTP_PORT")}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "SPOOLED_DEV_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("NATS_URL", None)
    proc = subprocess.Popen([sys.executable, "-u", "-m", "spooled_testing.stack", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = _read_until(proc, r"Logs ", timeout=120)
        assert f"http://127.0.0.1:{ports['PORT']}" in out
        assert f"127.0.0.1:{ports['GRPC_PORT']}" in out
        key = re.search(r"API key\s+(sp_test_\S+)", out)
        assert key, out
        r = httpx.post(f"http://127.0.0.1:{ports['PORT']}/api/v1/jobs", timeout=10,
                       headers={"Authorization": f"Bearer {key.group(1)}"},
                       json={"queue_name": "smoke", "payload": {"hello": "world"}})
        assert r.status_code == 201, r.text
        assert r.json()["created"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "Stopped." in rest
    # Embedded Postgres is down: its pid file is gone.
    assert not (tmp_path / "postgres" / "pgdata" / "postmaster.pid").exists()
