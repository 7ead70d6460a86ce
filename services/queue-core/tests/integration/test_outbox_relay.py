"""The outbox relay against real Postgres and a real NATS JetStream.

Each test uses a database of its own (the relay reads every tenant's rows) and
reads back what landed in the stream through JetStream's message API.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.js.errors
import orjson
import pytest
from opentelemetry import trace
from spooled_common import tracing
from spooled_common.db import create_pool, maintenance_tx
from spooled_common.migrate import migrate
from spooled_common.tenant import Tenant
from spooled_queue_core import db
from spooled_queue_core.app import build_services
from spooled_queue_core.grpc_server import Services
from spooled_queue_core.outbox import OutboxRelay, RelaySettings, metrics, wire
from spooled_queue_core.outbox.publisher import Publisher, PublishError
from spooled_queue_core.testing import claim_one, enqueue, make_settings
from spooled_queue_core.wakeup import Wakeup
from spooled_testing.nats import NatsServer
from spooled_testing.postgres import PostgresServer


def relay_settings(nats_url: str, **env: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "NATS_URL": nats_url,
        "OUTBOX_POLL_INTERVAL_SECS": 0.05,
        "OUTBOX_RETRY_MIN_SECS": 0.05,
        "OUTBOX_RETRY_MAX_SECS": 0.3,
        "OUTBOX_LEADER_RETRY_SECS": 0.1,
        "OUTBOX_PUBLISH_TIMEOUT_SECS": 1.0,
    }
    values.update(env)
    return RelaySettings(**values)


@contextlib.asynccontextmanager
async def relaying(
    dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
) -> AsyncIterator[Services]:
    """queue-core's services with a running relay woken by their own enqueues."""
    wakeup = Wakeup(dsn, channel=f"wake_{uuid.uuid4().hex[:8]}")
    await wakeup.start()
    relay = await OutboxRelay(
        dsn, relay_settings(nats_server.url), wake_channel=wakeup.channel
    ).start()
    try:
        yield build_services(pool, make_settings(dsn), wakeup)
    finally:
        await relay.stop()
        await wakeup.stop()


async def wait_until(fn: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def dsn(pg_server: PostgresServer) -> str:
    name = f"outbox_{uuid.uuid4().hex[:8]}"
    dsn = pg_server.create_database(name)
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    return dsn


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(dsn, min_size=1, max_size=4)
    yield p
    await p.close()


async def add_events(pool: asyncpg.Pool, org: str, events: list[tuple[str, str]]) -> list[int]:
    """Insert (job id, event) rows as the services would; returns their outbox ids."""
    async with maintenance_tx(pool) as conn:
        return [
            await conn.fetchval(
                "INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, "
                "payload) VALUES ($1, $2, 'q.one', $3, $4::jsonb) RETURNING id",
                org,
                job,
                event,
                orjson.dumps({"job_id": job, "n": i}).decode(),
            )
            for i, (job, event) in enumerate(events)
        ]


async def unpublished(pool: asyncpg.Pool) -> int:
    async with maintenance_tx(pool) as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM core.outbox WHERE published_at IS NULL")
        )


async def stream_messages(url: str, org: str) -> list[Any]:
    """Every message of ``org`` in the stream, in stream order."""
    nc = await nats.connect(url)
    try:
        jsm = nc.jetstream()
        out, seq = [], 1
        while True:
            try:
                msg = await jsm.get_msg(
                    wire.STREAM, seq=seq, subject=wire.org_subject(org), next=True
                )
            except nats.js.errors.NotFoundError:
                return out
            out.append(msg)
            seq = msg.seq + 1
    finally:
        await nc.close()


def bodies(msgs: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(m.data) for m in msgs]


class TestRelay:
    async def test_a_job_lifecycle_reaches_the_stream_in_order(
        self, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        async with relaying(dsn, pool, nats_server) as services:
            tenant = Tenant(f"org-{uuid.uuid4()}")
            job = await enqueue(services, tenant, "emails.v2", payload='{"to": "a"}')
            row = await claim_one(services, tenant, "emails.v2", worker="w1")
            await services.leases.complete(tenant, job, "w1", row["lease_id"], '{"ok": true}')
            await wait_until(lambda: _none(unpublished(pool)), what="all rows published")

        msgs = await stream_messages(nats_server.url, tenant.org_id)
        assert [b["event"] for b in bodies(msgs)] == ["job.created", "job.started", "job.completed"]
        created, started, completed = bodies(msgs)
        assert created["organization_id"] == tenant.org_id
        assert created["queue_name"] == "emails.v2"
        assert created["aggregate"] == job
        assert created["data"]["job_id"] == job
        assert started["data"]["worker_id"] == "w1"
        assert completed["data"]["result"] == {"ok": True}
        assert created["created_at"].endswith("Z")
        # The queue's dot is escaped inside its token; the event keeps its own dot.
        assert msgs[0].subject == (
            f"spooled.events.{wire.token(tenant.org_id)}.emails%2Ev2.job.created"
        )
        ids = [m.headers["Nats-Msg-Id"] for m in msgs]
        assert len(set(ids)) == 3
        assert all(i.startswith("core-") for i in ids)

    async def test_a_nats_outage_and_a_relay_restart_lose_nothing(
        self, dsn: str, pool: asyncpg.Pool
    ) -> None:
        nats_dir = Path(tempfile.mkdtemp(prefix="outbox-nats-"))
        server = NatsServer(nats_dir).start()
        org = f"org-{uuid.uuid4()}"
        jobs = [f"job-{i}" for i in range(8)]
        lifecycle = ["job.created", "job.started", "job.completed"]
        relay = await OutboxRelay(dsn, relay_settings(server.url)).start()
        try:
            before = await add_events(pool, org, [(j, "job.created") for j in jobs])
            await wait_until(lambda: _none(unpublished(pool)), what="first events published")

            server.stop()
            # Events keep being written while NATS is down, interleaved across jobs.
            during = await add_events(pool, org, [(j, e) for e in lifecycle[1:] for j in jobs])
            await asyncio.sleep(0.5)
            assert await unpublished(pool) == len(during)
            assert metrics.OUTBOX_LAG._value.get() > 0

            # queue-core restarts during the outage: a new relay picks up where it stopped.
            await relay.stop()
            relay = await OutboxRelay(dsn, relay_settings(server.url)).start()
            server.start()  # same port, same JetStream store
            await wait_until(lambda: _none(unpublished(pool)), timeout=30, what="backlog drained")

            msgs = await stream_messages(server.url, org)
        finally:
            await relay.stop()
            server.stop()

        got = bodies(msgs)
        assert [b["outbox_id"] for b in got] == before + during  # once each, in id order
        assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == len(msgs)
        for job in jobs:
            assert [b["event"] for b in got if b["aggregate"] == job] == lifecycle

    async def test_a_row_published_but_not_stamped_is_not_duplicated(
        self, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        org = f"org-{uuid.uuid4()}"
        relay = await OutboxRelay(dsn, relay_settings(nats_server.url)).start()
        try:
            await add_events(pool, org, [("j1", "job.created"), ("j1", "job.started")])
            await wait_until(lambda: _none(unpublished(pool)), what="published")
            # As if the relay crashed between the publish and the stamp.
            async with maintenance_tx(pool) as conn:
                await conn.execute("UPDATE core.outbox SET published_at = NULL")
            relay.poke()
            await wait_until(lambda: _none(unpublished(pool)), what="re-published")
        finally:
            await relay.stop()
        assert [b["event"] for b in bodies(await stream_messages(nats_server.url, org))] == [
            "job.created",
            "job.started",
        ]

    async def test_only_one_replica_relays_and_another_takes_over(
        self, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        org = f"org-{uuid.uuid4()}"
        first = await OutboxRelay(dsn, relay_settings(nats_server.url)).start()
        second = await OutboxRelay(dsn, relay_settings(nats_server.url)).start()
        try:
            await wait_until(lambda: _true(first.is_leader or second.is_leader), what="a leader")
            await asyncio.sleep(0.3)
            assert [first.is_leader, second.is_leader].count(True) == 1
            leader, standby = (first, second) if first.is_leader else (second, first)
            await leader.stop()
            await wait_until(lambda: _true(standby.is_leader), what="takeover")
            await add_events(pool, org, [("j1", "job.created")])
            await wait_until(lambda: _none(unpublished(pool)), what="published by the new leader")
        finally:
            await first.stop()
            await second.stop()
        assert len(await stream_messages(nats_server.url, org)) == 1

    async def test_retention_deletes_only_old_published_rows(
        self, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        org = f"org-{uuid.uuid4()}"
        old, recent, waiting = await add_events(
            pool, org, [("a", "job.created"), ("b", "job.created"), ("c", "job.created")]
        )
        async with maintenance_tx(pool) as conn:
            await conn.execute(
                "UPDATE core.outbox SET published_at = now() - interval '2 hours' WHERE id = $1",
                old,
            )
            await conn.execute("UPDATE core.outbox SET published_at = now() WHERE id = $1", recent)
        relay = OutboxRelay(dsn, relay_settings(nats_server.url, OUTBOX_RETENTION_SECS=3600))
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT set_config('app.maintenance', 'on', false)")
            assert await relay.cleanup(conn) == 1
            left = await conn.fetch("SELECT id FROM core.outbox ORDER BY id")
        finally:
            await conn.close()
        assert [r["id"] for r in left] == [recent, waiting]
        assert metrics.OUTBOX_PENDING._value.get() == 1

    async def test_without_nats_url_the_relay_stays_off(self, dsn: str) -> None:
        relay = await OutboxRelay(dsn, RelaySettings(NATS_URL="")).start()
        assert not relay.is_leader
        await relay.stop()


class FailOnce(Publisher):
    """Fails the publish of one message id, once: refused, or stored with its ack lost."""

    def __init__(self, settings: RelaySettings, *, stored: bool) -> None:
        super().__init__(settings)
        self.target = ""
        self.stored = stored
        self.failed = False

    async def publish(
        self, subject: str, body: bytes, msg_id: str, extra_headers: dict[str, str] | None = None
    ) -> None:
        if msg_id == self.target and not self.failed:
            self.failed = True
            if self.stored:
                await super().publish(subject, body, msg_id, extra_headers)
            raise PublishError(f"injected failure of {msg_id}")
        await super().publish(subject, body, msg_id, extra_headers)


async def stamped(pool: asyncpg.Pool) -> set[int]:
    async with maintenance_tx(pool) as conn:
        rows = await conn.fetch("SELECT id FROM core.outbox WHERE published_at IS NOT NULL")
    return {r["id"] for r in rows}


class TestWindows:
    @pytest.mark.parametrize("window", [1, 16])
    async def test_many_jobs_events_reach_the_stream_each_job_in_order(
        self, window: int, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        org = f"org-{uuid.uuid4()}"
        jobs = [f"job-{i}" for i in range(40)]
        # As workers interleave them: bulk creates, then starts and completions
        # of a few jobs at a time, with some jobs' events right next to each other.
        events = [(j, "job.created") for j in jobs]
        for i in range(0, len(jobs), 5):
            group = jobs[i : i + 5]
            events += [(j, "job.started") for j in group]
            events += [e for j in group for e in ((j, "job.progress"), (j, "job.completed"))]
        ids = await add_events(pool, org, events)
        relay = await OutboxRelay(
            dsn,
            relay_settings(nats_server.url, OUTBOX_PUBLISH_WINDOW=window, OUTBOX_BATCH_SIZE=50),
        ).start()
        try:
            await wait_until(lambda: _none(unpublished(pool)), what="all rows published")
        finally:
            await relay.stop()

        msgs = await stream_messages(nats_server.url, org)
        got = bodies(msgs)
        # Nothing failed, so even across jobs the stream kept id order.
        assert [b["outbox_id"] for b in got] == ids
        assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == len(ids)
        for job in jobs:
            assert [b["event"] for b in got if b["aggregate"] == job] == [
                "job.created",
                "job.started",
                "job.progress",
                "job.completed",
            ]

    @pytest.mark.parametrize("stored", [False, True], ids=["refused", "ack-lost"])
    async def test_a_failure_inside_a_window_holds_back_only_its_own_job(
        self, stored: bool, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer
    ) -> None:
        org = f"org-{uuid.uuid4()}"
        lifecycle = ["job.created", "job.started", "job.completed"]
        # Windows: [a1 b1 c1 d1] [a2 b2 c2 d2] [a3 b3 c3 d3]; b2 fails.
        ids = await add_events(pool, org, [(j, e) for e in lifecycle for j in "abcd"])
        row = dict(zip([f"{j}{n}" for n in "123" for j in "abcd"], ids, strict=True))
        settings = relay_settings(nats_server.url)
        publisher = FailOnce(settings, stored=stored)
        relay = OutboxRelay(dsn, settings, publisher=publisher)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT set_config('app.maintenance', 'on', false)")
            namespace = str(
                await conn.fetchval(
                    "SELECT oid FROM pg_database WHERE datname = current_database()"
                )
            )
            publisher.target = wire.msg_id(namespace, row["b2"])

            with pytest.raises(PublishError, match="injected"):
                await relay.relay_once(conn, namespace)
            # b2's window neighbours are stamped; b2 and the window after it
            # (b3 with it) wait for the next round.
            first_two = {i for name, i in row.items() if name[1] in "12"}
            assert await stamped(pool) == first_two - {row["b2"]}

            await relay.relay_once(conn, namespace)
            assert await unpublished(pool) == 0
        finally:
            await conn.close()
            await relay.publisher.close()

        msgs = await stream_messages(nats_server.url, org)
        got = bodies(msgs)
        assert sorted(b["outbox_id"] for b in got) == ids  # each once, b2 included
        assert len({m.headers["Nats-Msg-Id"] for m in msgs}) == len(ids)
        for job in "abcd":
            assert [b["event"] for b in got if b["aggregate"] == job] == lifecycle
        # A refused b2 is stored after its window; a lost ack's copy stays in its place.
        assert [b["outbox_id"] for b in got].index(row["b2"]) == (5 if stored else 7)


async def _none(count: Any) -> bool:
    return await count == 0


async def _true(value: bool) -> bool:
    return value


class TestTracing:
    async def test_messages_carry_the_publish_span_of_the_rows_trace(
        self, dsn: str, pool: asyncpg.Pool, nats_server: NatsServer, span_exporter: Any
    ) -> None:
        async with relaying(dsn, pool, nats_server) as services:
            tenant = Tenant(f"org-{uuid.uuid4()}")
            with tracing.tracer().start_as_current_span("enqueue") as request:
                job = await enqueue(services, tenant, "traced")
            await add_events(pool, tenant.org_id, [("other", "queue.paused")])  # untraced row
            await wait_until(lambda: _none(unpublished(pool)), what="all rows published")

        created, paused = await stream_messages(nats_server.url, tenant.org_id)
        [publish] = [
            s for s in span_exporter.get_finished_spans() if s.name == "publish job.created"
        ]
        sc = publish.context
        assert created.headers["traceparent"] == (
            f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"
        )
        assert publish.parent is not None
        assert publish.parent.span_id == request.get_span_context().span_id
        assert publish.kind is trace.SpanKind.PRODUCER
        assert publish.attributes is not None
        assert publish.attributes["messaging.destination.name"] == created.subject
        assert publish.attributes["messaging.message.id"] == created.headers["Nats-Msg-Id"]
        assert publish.attributes["spooled.job_id"] == job
        # A row written outside any trace goes out as before: no header, no span.
        assert "traceparent" not in paused.headers
        assert len(span_exporter.get_finished_spans()) == 2  # enqueue + its publish
