"""Fault, lease and soak tests against the whole suite (`make chaos`).

One stack for the session, as `make run` starts it (every service its own process, embedded
Postgres, NATS and Redis), on free ports under a temporary folder. Unlike the e2e session it
runs a supervisor thread, as `make run` and Kubernetes do: a service killed with SIGKILL is
restarted within a fraction of a second, and the tests watch what clients see meanwhile.

The helpers (tenants, the database as the application role, polling) are the e2e ones.
Like tests/e2e, this process talks to gRPC only through the official SDK's own stubs.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# db and make_org are the e2e session fixtures, bound here to this folder's supervised `stack`.
from e2e.conftest import _PLAN_ENV, _WEBHOOK_ENV, Org, db, make_org  # noqa: F401
from spooled_testing.stack import Stack, running_stack

#: A crashed scheduler leader is replaced within one lease TTL; 3 s (default 15 s)
#: keeps the scheduler kill short. Ticks late by up to the misfire grace still fire.
_SCHEDULER_ENV = {"SCHEDULER_LEASE_TTL_SECS": "3", "SCHEDULER_POLL_INTERVAL_SECS": "1"}

#: How often the supervisor looks for dead services (make run: every 0.5 s).
SUPERVISE_EVERY_S = 0.2


class Supervisor:
    """Restarts every service that died while wanted, like `make run` does."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="supervisor")
        #: Guards Service.start()/stop() against the test thread.
        self.lock = threading.Lock()

    def _run(self) -> None:
        while not self._stop.wait(SUPERVISE_EVERY_S):
            with self.lock:
                self.stack.supervise_once()

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Not under pytest's tmp dir (see tests/e2e/conftest.py).
    base = Path(tempfile.mkdtemp(prefix="spooled-chaos-"))
    try:
        env = {**_PLAN_ENV, **_WEBHOOK_ENV, **_SCHEDULER_ENV}
        with running_stack(base, extra_env=env) as s:
            yield s
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def supervisor(stack: Stack) -> Iterator[Supervisor]:
    sup = Supervisor(stack).start()
    try:
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def fresh_org(make_org: Callable[..., Org]) -> Org:  # noqa: F811
    return make_org("chaos")
