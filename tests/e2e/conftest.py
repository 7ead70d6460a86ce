"""End-to-end fixtures: one running suite for the whole session, a fresh tenant per test.

The stack is what `make run` starts (embedded Postgres + NATS, migrations, queue-core and
the gateway as their own processes), on free ports under a temporary folder. Tests talk to
it only through public interfaces: the official SDK (`spooled==1.6.0`), raw HTTP where the
SDK would refuse to send bad input, gRPC through the SDK's own stubs, and the database as
the application role (never a superuser, so row-level security applies to our checks too).

Never import ``spooled_proto.spooled.v1`` here: the SDK registers the same proto package
(``spooled.v1``) in the default descriptor pool, and a second copy clashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from spooled import SpooledClient
from spooled.config import CircuitBreakerConfig, RetryConfig
from spooled_testing.otlp import OtlpReceiver
from spooled_testing.stack import Stack, running_stack

T = TypeVar("T")

API = "/api/v1"

#: Plan limits are not what these tests are about: a free-tier organization may hold only
#: 10 active jobs and make 5 requests/s, which the crash test alone exceeds. The tenants
#: created here are lifted to enterprise through the admin API, and the free tier is also
#: lifted through the documented environment overrides (API.md §14.1), so either
#: mechanism suffices.
_PLAN_ENV = {
    "SPOOLED_PLAN_FREE_MAX_JOBS_PER_DAY": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_ACTIVE_JOBS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_QUEUES": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_WORKERS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_API_KEYS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_WORKFLOWS": "unlimited",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "100000",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_BURST": "100000",
    "RATE_LIMIT_REQUESTS_PER_SECOND": "100000",
    "RATE_LIMIT_BURST_SIZE": "100000",
}
#: Outgoing webhooks retry within seconds here (the default schedule spans hours),
#: so "three 500s, then 200" is delivered on the 4th attempt inside a test.
_WEBHOOK_ENV = {
    "WEBHOOKS_RETRY_BASE_SECS": "0.3",
    "WEBHOOKS_RETRY_MAX_SECS": "2",
    "WEBHOOKS_POLL_INTERVAL_SECS": "0.1",
}


#: Every service runs with tracing on and exports to the session's in-process OTLP
#: receiver, but records only traces a caller asked for (a sampled ``traceparent``, as
#: test_tracing.py sends): the rest of the suite exercises the propagation code without
#: paying for exports, and its load tests are not slowed by span traffic. A short batch
#: delay gets spans there quickly; tests still wait on the spans, never on time.
def _tracing_env(otlp: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_always_off",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


# -- collection --------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests e2e; run the crash test last (it kills queue-core)."""
    here = Path(__file__).parent
    mine = [it for it in items if here in Path(str(it.path)).parents]
    for item in mine:
        item.add_marker(pytest.mark.e2e)
    slow = [it for it in mine if it.get_closest_marker("slow")]
    if slow:
        items[:] = [it for it in items if it not in slow] + slow


# -- helpers -----------------------------------------------------------------------------
def wait_for(
    fn: Callable[[], T], *, timeout: float, interval: float = 0.2, desc: str = "condition"
) -> T:
    """Poll ``fn`` until it returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {desc}; last value: {last!r}"
            )
        time.sleep(interval)


def describe(resp: httpx.Response) -> str:
    """The request and response, for an assertion message that is evidence on its own."""
    req = resp.request
    body = req.content[:300].decode("utf-8", "replace") if req.content else ""
    if len(req.content or b"") > 300:
        body += f"... ({len(req.content)} bytes)"
    return (
        f"\n  request:  {req.method} {req.url}\n  body:     {body}"
        f"\n  response: {resp.status_code} {resp.text[:600]}"
    )


def expect(resp: httpx.Response, status: int | set[int], code: str | None = None) -> Any:
    """Assert status (and error code); error bodies must be JSON ``{code, message}``."""
    allowed = {status} if isinstance(status, int) else status
    assert resp.status_code in allowed, f"expected {sorted(allowed)}" + describe(resp)
    if resp.status_code >= 400:
        try:
            doc = resp.json()
        except ValueError:
            raise AssertionError("error body is not JSON" + describe(resp)) from None
        assert (
            isinstance(doc, dict)
            and isinstance(doc.get("code"), str)
            and isinstance(doc.get("message"), str)
        ), "error body lacks {code, message}" + describe(resp)
        if code is not None:
            assert doc["code"] == code, f"expected code {code}" + describe(resp)
        return doc
    if resp.status_code == 204 or not resp.content:
        return None
    return resp.json()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# -- database ----------------------------------------------------------------------------
class Db:
    """Blocking access to Postgres as the application role (RLS applies).

    asyncpg runs on a private event loop in a thread, so sync tests can use it without
    touching pytest-asyncio's loop.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="e2e-db")
        self._thread.start()
        self._pool: asyncpg.Pool = self._run(self._open())

    async def _open(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(self.dsn, min_size=1, max_size=4, init=self._init)

    @staticmethod
    async def _init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        await conn.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    def _run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _fetch(
        self, sql: str, args: tuple[Any, ...], org: str | None
    ) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn, conn.transaction():
            # Transaction-local, so a pooled connection never leaks a tenant into the next use.
            await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org or "")
            rows = await conn.fetch(sql, *args)
            return [dict(r) for r in rows]

    def fetch(self, sql: str, *args: Any, org: str | None = None) -> list[dict[str, Any]]:
        """Rows as dicts; ``org`` sets ``app.current_org_id`` for the statement's transaction."""
        return self._run(self._fetch(sql, args, org))

    def fetchval(self, sql: str, *args: Any, org: str | None = None) -> Any:
        rows = self.fetch(sql, *args, org=org)
        return next(iter(rows[0].values())) if rows else None

    async def _fresh(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    def fetch_fresh(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """On a brand-new connection with no session settings at all."""
        return self._run(self._fresh(sql, args))

    def table_exists(self, qualified: str) -> bool:
        return bool(self.fetchval("SELECT to_regclass($1) IS NOT NULL", qualified))

    def close(self) -> None:
        try:
            self._run(self._pool.close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


# -- tenants -----------------------------------------------------------------------------
@dataclass
class Org:
    """A tenant created through open registration, with its initial (unrestricted) key."""

    stack: Stack
    id: str
    slug: str
    name: str
    api_key: str
    api_key_id: str
    _clients: list[Any] = field(default_factory=list, repr=False)

    def client(self, api_key: str | None = None, **kwargs: Any) -> SpooledClient:
        c = sdk_client(self.stack, api_key=api_key or self.api_key, **kwargs)
        self._clients.append(c)
        return c

    def http(self, api_key: str | None = None) -> httpx.Client:
        c = httpx.Client(
            base_url=self.stack.base_url + API,
            timeout=30,
            headers={"Authorization": f"Bearer {api_key or self.api_key}"},
        )
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()


def sdk_client(stack: Stack, **kwargs: Any) -> SpooledClient:
    """An SDK client for the stack that reports the first failure instead of retrying it."""
    kwargs.setdefault("retry", RetryConfig(max_retries=0))
    kwargs.setdefault("circuit_breaker", CircuitBreakerConfig(enabled=False))
    kwargs.setdefault("timeout", 30.0)
    return SpooledClient(base_url=stack.base_url, **kwargs)


def create_org(stack: Stack, prefix: str = "e2e") -> Org:
    slug = f"{prefix}-{secrets.token_hex(4)}"
    name = f"E2E {slug}"
    r = httpx.post(
        f"{stack.base_url}{API}/organizations", json={"name": name, "slug": slug}, timeout=30
    )
    doc = expect(r, 201)
    org = Org(
        stack=stack,
        id=doc["organization"]["id"],
        slug=slug,
        name=name,
        api_key=doc["api_key"]["key"],
        api_key_id=doc["api_key"]["id"],
    )
    # Best effort (see _PLAN_ENV): not what is under test here.
    with contextlib.suppress(httpx.HTTPError):
        httpx.patch(
            f"{stack.base_url}{API}/admin/organizations/{org.id}",
            json={"plan_tier": "enterprise"},
            headers={"X-Admin-Key": stack.admin_key},
            timeout=30,
        )
    return org


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    """The OTLP/gRPC receiver every service of the stack exports its spans to."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def stack(otlp: OtlpReceiver) -> Iterator[Stack]:
    # Not under pytest's tmp dir: as root, Postgres runs as a system user that
    # must traverse the path, and every new pytest session re-tightens
    # /tmp/pytest-of-<user> to 0700.
    base = Path(tempfile.mkdtemp(prefix="spooled-e2e-"))
    env = {**_PLAN_ENV, **_WEBHOOK_ENV, **_tracing_env(otlp)}
    try:
        with running_stack(base, extra_env=env) as s:
            yield s
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def db(stack: Stack) -> Iterator[Db]:
    d = Db(stack.database_url)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture(scope="session")
def make_org(stack: Stack) -> Iterator[Callable[..., Org]]:
    made: list[Org] = []

    def make(prefix: str = "e2e") -> Org:
        org = create_org(stack, prefix)
        made.append(org)
        return org

    yield make
    for org in made:
        org.close()


@pytest.fixture(scope="module")
def org(make_org: Callable[..., Org]) -> Org:
    """One tenant per test module."""
    return make_org()


@pytest.fixture
def fresh_org(make_org: Callable[..., Org]) -> Org:
    """One tenant for a single test (org-wide counters, stats)."""
    return make_org()


@pytest.fixture(scope="module")
def client(org: Org) -> SpooledClient:
    return org.client()


@pytest.fixture(scope="module")
def http(org: Org) -> httpx.Client:
    return org.http()


# -- job helpers (REST, through the SDK) -------------------------------------------------
WORKER = "e2e-worker"


def claim(
    client: SpooledClient, queue: str, *, worker_id: str = WORKER, limit: int = 1, lease: int = 30
) -> list[Any]:
    return list(
        client.jobs.claim(
            {
                "queue_name": queue,
                "worker_id": worker_id,
                "limit": limit,
                "lease_duration_secs": lease,
            }
        ).jobs
    )


def make_deadletter(
    client: SpooledClient, queue: str, payload: Any = None, error: str = "boom"
) -> str:
    """A job that is in the dead-letter queue: max_retries 0, claimed, failed once.

    Created with priority 100 so the claim takes it before anything else in the queue.
    """
    job_id = client.jobs.create(
        {
            "queue_name": queue,
            "payload": payload or {"dead": True},
            "max_retries": 0,
            "priority": 100,
        }
    ).id
    got = claim(client, queue)
    assert [j.id for j in got] == [job_id], f"claim returned {got!r}, expected job {job_id}"
    client.jobs.fail(job_id, {"worker_id": WORKER, "error": error, "lease_id": got[0].lease_id})
    return job_id
