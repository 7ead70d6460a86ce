"""The real entry point: `spooled-queue-core migrate`, then `serve` until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from spooled_common.migrate import discover
from spooled_queue_core import db
from spooled_testing.postgres import free_port

pytestmark = pytest.mark.slow


def _run(args: list[str], env: dict[str, str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "spooled_queue_core", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kw,
    )  # type: ignore[call-overload]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready: {url}")


def test_migrate_serve_and_graceful_sigterm(fresh_dsn: str) -> None:
    env = {
        "DATABASE_URL": fresh_dsn,
        "QUEUE_CORE_GRPC_PORT": str(free_port()),
        "QUEUE_CORE_HTTP_PORT": str(http_port := free_port()),
        "QUEUE_CORE_GRPC_HOST": "127.0.0.1",
        "QUEUE_CORE_HTTP_HOST": "127.0.0.1",
    }
    migrated = _run(["migrate"], env)
    out, _ = migrated.communicate(timeout=60)
    assert migrated.returncode == 0, out.decode()
    applied = len(discover(db.MIGRATIONS))
    assert f"{applied} migration(s) applied".encode() in out

    server = _run(["serve"], env)
    try:
        _wait_ready(f"http://127.0.0.1:{http_port}/ready", server)
        assert httpx.get(f"http://127.0.0.1:{http_port}/health").json() == {"status": "ok"}
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, out.decode()
    assert b"queue-core stopped" in out
