"""`make run` end to end: the command a newcomer types starts the suite, serves
a job, and stops everything on Ctrl-C (SIGINT) — including embedded Postgres."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from spooled_testing.postgres import free_port
from spooled_testing.stack import DEV_PORTS


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


def test_run_prints_urls_and_key_serves_jobs_and_stops_cleanly_on_ctrl_c() -> None:
    # Not pytest's tmp_path: Postgres (run as a system user when we are root)
    # must traverse the path, and pytest keeps its own tmp root at 0700.
    tmp_path = Path(tempfile.mkdtemp(prefix="spooled-make-run-"))
    ports = {env: free_port() for env, _default in DEV_PORTS.values()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "SPOOLED_DEV_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("NATS_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "spooled_testing.stack", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = _read_until(proc, r"Logs ", timeout=120)
        assert f"http://127.0.0.1:{ports['PORT']}" in out
        assert f"127.0.0.1:{ports['GRPC_PORT']}" in out
        # Our own Redis, on its own port (never the machine's 6379).
        assert f"redis://127.0.0.1:{ports['REDIS_PORT']}/0" in out
        key = re.search(r"API key\s+(sp_test_\S+)", out)
        assert key, out
        r = httpx.post(
            f"http://127.0.0.1:{ports['PORT']}/api/v1/jobs",
            timeout=10,
            headers={"Authorization": f"Bearer {key.group(1)}"},
            json={"queue_name": "smoke", "payload": {"hello": "world"}},
        )
        assert r.status_code == 201, r.text
        assert r.json()["created"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "Stopped." in rest
    # Embedded Postgres is down: its pid file is gone.
    assert not (tmp_path / "postgres" / "pgdata" / "postmaster.pid").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
