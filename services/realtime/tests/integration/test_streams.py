"""The realtime service against a real NATS JetStream, driven over real HTTP and WebSocket.

Events are published the way queue-core's relay does (same subjects, body and
headers, built with its ``wire`` module). queue-core itself is replaced by a
small in-process stand-in for the job and queue-stats reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import orjson
import pytest
import websockets
from spooled_common import errors
from spooled_queue_core.outbox import wire
from spooled_realtime.app import RealtimeServer
from spooled_realtime.settings import RealtimeSettings
from spooled_testing.nats import NatsServer

TOKEN = "test-internal-token"


@dataclass
class FakeJob:
    queue_name: str
    status: str


class FakeCore:
    """Stands in for queue-core's GetJob / GetQueueStats."""

    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}

    async def job(self, tenant: Any, job_id: str) -> FakeJob | None:
        return self.jobs.get(job_id)

    async def queue_stats(self, tenant: Any, queue: str) -> Any:
        if not tenant.allows(queue):
            raise errors.AccessDenied("no")
        return type(
            "S",
            (),
            {
                "pending": 2,
                "scheduled": 1,
                "processing": 3,
                "completed": 4,
                "failed": 5,
                "deadletter": 1,
            },
        )()

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
async def server(nats_server: NatsServer) -> AsyncIterator[RealtimeServer]:
    settings = RealtimeSettings(
        NATS_URL=nats_server.url,
        REALTIME_HOST="127.0.0.1",
        REALTIME_PORT=0,
        SPOOLED_INTERNAL_TOKEN=TOKEN,
        REALTIME_SSE_KEEPALIVE_SECS=0.5,
        REALTIME_SSE_MAX_LIFETIME_SECS=60,
        REALTIME_WS_PING_INTERVAL_SECS=30,
        REALTIME_QUEUE_STATS_INTERVAL_SECS=0.2,
        REALTIME_JOB_POLL_INTERVAL_SECS=0.3,
    )
    srv = RealtimeServer(settings)
    srv.rt.core = FakeCore()  # type: ignore[assignment]
    await srv.start()
    await srv.rt.hub.wait_ready(15)
    yield srv
    await srv.stop()


@pytest.fixture(scope="module")
async def js(nats_server: NatsServer) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


def headers(org: str, scope: str = "*") -> dict[str, str]:
    return {"x-internal-token": TOKEN, "x-spooled-org-id": org, "x-spooled-queues": scope}


async def publish(js: Any, org: str, event: str, queue: str, **data: Any) -> int:
    body = wire.body(
        outbox_id=0,
        event=event,
        org_id=org,
        queue=queue,
        aggregate=data.get("job_id", queue),
        created_at=datetime.now(UTC),
        data={"queue_name": queue, **data},
    )
    ack = await js.publish(
        wire.subject(org, queue, event),
        body,
        stream=wire.STREAM,
        headers={"Nats-Msg-Id": uuid.uuid4().hex},
    )
    return int(ack.seq)


class SseReader:
    """Parses an SSE response into (fields, comments)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> dict[str, str]:
        """The next frame: {"comment": ...} or {"id"?, "event", "data"}."""
        frame: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if frame:
                        return frame
                    continue
                if line.startswith(":"):
                    frame.setdefault("comment", line[1:].strip())
                    continue
                key, _, value = line.partition(":")
                frame[key] = value.removeprefix(" ")
        raise EOFError("stream ended")

    async def event(self, timeout: float = 5.0) -> dict[str, str]:
        while True:
            frame = await self.next(timeout)
            if "comment" not in frame:
                return frame


@contextlib.asynccontextmanager
async def sse(server: RealtimeServer, path: str, hdrs: dict[str, str]) -> AsyncIterator[Any]:
    base = f"http://127.0.0.1:{server.port}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as c,
        c.stream("GET", path, headers=hdrs) as r,
    ):
        yield r


class TestSse:
    async def test_own_org_only_in_order_then_resume_from_the_stream(
        self, server: RealtimeServer, js: Any
    ) -> None:
        org, other = f"o-{uuid.uuid4()}", f"o-{uuid.uuid4()}"
        async with sse(server, "/api/v1/events", headers(org)) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(r)
            assert await reader.next() == {"comment": "connected"}
            await publish(js, other, "job.created", "q", job_id="x", priority=0)
            await publish(js, org, "job.created", "q", job_id="j1", priority=1)
            await publish(js, org, "job.started", "q", job_id="j1", worker_id="w")
            await publish(js, org, "job.completed", "q", job_id="j1", result=None, duration_ms=5)
            got = [await reader.event() for _ in range(3)]
        assert [f["event"] for f in got] == ["job.created", "job.status", "job.completed"]
        docs = [orjson.loads(f["data"]) for f in got]
        assert [d["type"] for d in docs] == ["JobCreated", "JobStatusChange", "JobCompleted"]
        assert all(d["data"]["job_id"] == "j1" for d in docs)
        ids = [int(f["id"]) for f in got]
        assert ids == sorted(ids)

        hdrs = {**headers(org), "Last-Event-ID": str(ids[0])}
        async with sse(server, "/api/v1/events", hdrs) as r:
            reader = SseReader(r)
            replayed = [await reader.event() for _ in range(2)]
        assert [int(f["id"]) for f in replayed] == ids[1:]

    async def test_filters_and_keepalive(self, server: RealtimeServer, js: Any) -> None:
        org = f"o-{uuid.uuid4()}"
        async with sse(server, "/api/v1/events?queue=b&events=job.failed", headers(org)) as r:
            reader = SseReader(r)
            await reader.next()
            await publish(js, org, "job.failed", "a", job_id="1", status="failed", error="x")
            await publish(js, org, "job.failed", "b", job_id="2", status="failed", error="y")
            frame = await reader.event()
            assert frame["event"] == "job.failed"
            assert orjson.loads(frame["data"])["data"]["job_id"] == "2"
            assert (await reader.next(3)) == {"comment": "ping"}

    async def test_identity_and_scope_are_enforced(self, server: RealtimeServer) -> None:
        base = f"http://127.0.0.1:{server.port}/api/v1"
        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.get(f"{base}/events", headers={"x-spooled-org-id": "o"})
            assert r.status_code == 401
            assert r.json()["code"] == "UNAUTHORIZED"
            r = await c.get(f"{base}/events?queue=secret", headers=headers("o", "emails"))
            assert (r.status_code, r.json()["code"]) == (403, "ACCESS_DENIED")
            r = await c.get(f"{base}/events/queues/secret", headers=headers("o", "emails"))
            assert r.status_code == 403

    async def test_job_stream_follows_the_job_and_closes_when_done(
        self, server: RealtimeServer, js: Any
    ) -> None:
        org, job = f"o-{uuid.uuid4()}", f"j-{uuid.uuid4()}"
        server.rt.core.jobs[job] = FakeJob("q", "pending")  # type: ignore[attr-defined]
        async with sse(server, f"/api/v1/events/jobs/{job}", headers(org)) as r:
            reader = SseReader(r)
            first = orjson.loads((await reader.event())["data"])
            assert (first["data"]["old_status"], first["data"]["new_status"]) == ("", "pending")
            await publish(js, org, "job.started", "q", job_id=job, worker_id="w")
            await publish(js, org, "job.completed", "q", job_id=job, result=None, duration_ms=1)
            changes = [orjson.loads((await reader.event())["data"])["data"] for _ in range(2)]
            with pytest.raises(EOFError):
                await reader.event()
        assert [(c["old_status"], c["new_status"]) for c in changes] == [
            ("pending", "processing"),
            ("processing", "completed"),
        ]

    async def test_unknown_job_is_an_error_event(self, server: RealtimeServer) -> None:
        async with sse(server, "/api/v1/events/jobs/nope", headers("o")) as r:
            reader = SseReader(r)
            frame = await reader.event()
            assert frame["event"] == "error"
            assert orjson.loads(frame["data"])["data"]["message"] == "Job not found"
            with pytest.raises(EOFError):
                await reader.event()

    async def test_queue_stats_stream(self, server: RealtimeServer) -> None:
        async with sse(server, "/api/v1/events/queues/emails", headers("o")) as r:
            reader = SseReader(r)
            frames = [await reader.event() for _ in range(2)]
        assert {f["event"] for f in frames} == {"queue.stats"}
        assert orjson.loads(frames[0]["data"])["data"] | {"timestamp": None} == {
            "queue_name": "emails",
            "pending": 3,
            "processing": 3,
            "completed": 4,
            "failed": 6,
            "timestamp": None,
        }


class TestWebSocket:
    async def test_commands_in_both_casings_and_tenant_isolation(
        self, server: RealtimeServer, js: Any
    ) -> None:
        org, other = f"o-{uuid.uuid4()}", f"o-{uuid.uuid4()}"
        url = f"ws://127.0.0.1:{server.port}/api/v1/ws"
        async with websockets.connect(url, additional_headers=headers(org)) as ws:
            assert orjson.loads(await ws.recv())["type"] == "Ping"
            await ws.send('{"cmd": "subscribe", "queue": "q1"}')
            await ws.send('{"cmd": "Ping"}')
            assert orjson.loads(await ws.recv())["type"] == "Ping"
            await publish(js, other, "job.created", "q1", job_id="theirs")
            await publish(js, org, "job.created", "q2", job_id="elsewhere")
            await publish(js, org, "job.created", "q1", job_id="mine")
            doc = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (doc["type"], doc["data"]["job_id"]) == ("JobCreated", "mine")
            await ws.send('{"cmd": "Unsubscribe", "queue": "q1"}')
            await ws.send('{"cmd": "ping"}')
            assert orjson.loads(await ws.recv())["type"] == "Ping"
            await publish(js, org, "job.created", "q2", job_id="now-visible")
            doc = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert doc["data"]["job_id"] == "now-visible"

    async def test_refused_upgrade_is_an_http_error(self, server: RealtimeServer) -> None:
        url = f"ws://127.0.0.1:{server.port}/api/v1/ws"
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(url):
                pass
        assert info.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(f"{url}?queue=x", additional_headers=headers("o", "y")):
                pass
        assert info.value.response.status_code == 403


async def test_ready_reports_nats(server: RealtimeServer) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{server.port}/ready")
    assert r.status_code == 200
    assert r.json()["nats"] is True


async def test_the_hub_recovers_after_a_nats_restart(tmp_path: Any) -> None:
    """Realtime is best-effort, but it must come back on its own once NATS returns."""
    nats_srv = NatsServer(tmp_path / "nats").start()
    settings = RealtimeSettings(
        NATS_URL=nats_srv.url,
        REALTIME_HOST="127.0.0.1",
        REALTIME_PORT=0,
        SPOOLED_INTERNAL_TOKEN=TOKEN,
        REALTIME_SSE_KEEPALIVE_SECS=0.5,
    )
    srv = RealtimeServer(settings)
    await srv.start()
    org = f"o-{uuid.uuid4()}"
    try:
        await srv.rt.hub.wait_ready(15)
        nats_srv.stop()
        await asyncio.sleep(0.5)
        assert not srv.rt.hub.ready
        nats_srv.start()
        nc = await nats.connect(nats_srv.url)
        try:
            js = nc.jetstream()
            async with sse(srv, "/api/v1/events", headers(org)) as r:
                reader = SseReader(r)
                await reader.next()
                deadline = asyncio.get_running_loop().time() + 20
                while True:
                    # Publish until the recreated consumer delivers (heartbeats notice the restart).
                    await publish(js, org, "job.created", "q", job_id="after-restart")
                    try:
                        frame = await reader.event(timeout=1.0)
                        break
                    except TimeoutError:
                        assert asyncio.get_running_loop().time() < deadline, "hub never recovered"
            assert orjson.loads(frame["data"])["data"]["job_id"] == "after-restart"
        finally:
            await nc.close()
    finally:
        await srv.stop()
        nats_srv.stop()
