"""Live events end to end: queue-core's outbox → NATS JetStream → realtime → gateway → clients.

Organization A runs one job through created → processing → completed while six clients
listen: a raw SSE client, a raw WebSocket client, and the official SDK's realtime client
over WebSocket and over SSE. Each must see exactly that lifecycle, in order. Organization B
listens the same ways at the same time and must see nothing of it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets
import websockets.sync.client as ws_client
from spooled.realtime import SubscriptionFilter

from .conftest import WORKER, Org, claim, expect, unique, wait_for
from .sse import SseClient

LIFECYCLE = [("JobCreated", None), ("JobStatusChange", "processing"), ("JobCompleted", None)]
SDK_LIFECYCLE = ["job.created", "job.status_changed", "job.completed"]


class WsClient:
    """Reads a WebSocket on a thread; ``pinged`` is set by the server's first Ping."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.ws = ws_client.connect(url, additional_headers=headers or {}, open_timeout=10)
        self.messages: list[dict[str, Any]] = []
        self.pinged = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                raw = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception:
                return
            doc = json.loads(raw)
            if doc.get("type") == "Ping":
                self.pinged.set()
            self.messages.append(doc)

    def close(self) -> None:
        self._stop.set()
        self.ws.close()
        self._thread.join(5)


def lifecycle(envelopes: list[dict[str, Any]], job_id: str) -> list[tuple[str, str | None]]:
    return [
        (e["type"], e["data"].get("new_status"))
        for e in envelopes
        if isinstance(e.get("data"), dict) and e["data"].get("job_id") == job_id
    ]


def job_events(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in envelopes if str(e.get("type", "")).startswith("Job")]


class SdkListener:
    """The official SDK's realtime client (it logs in for a JWT first, then connects)."""

    def __init__(self, org: Org, kind: str, queue: str | None = None) -> None:
        self.events: list[Any] = []
        self.pinged = threading.Event()
        self.rt = org.client().realtime(type=kind, auto_reconnect=False)  # type: ignore[arg-type]
        self.rt.on_event(self._on)
        if queue is not None:
            self.rt.subscribe(SubscriptionFilter(queue=queue))
        self.rt.connect()

    def _on(self, event: Any) -> None:
        if event.type == "ping":
            self.pinged.set()
        self.events.append(event)

    def names_for(self, job_id: str) -> list[str]:
        return [
            e.type
            for e in self.events
            if isinstance(e.data, dict) and e.data.get("job_id") == job_id
        ]

    def job_event_count(self) -> int:
        return sum(1 for e in self.events if e.type.startswith("job."))

    def close(self) -> None:
        self.rt.disconnect()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    opened: list[Any] = []

    def track(obj: Any) -> Any:
        opened.append(obj)
        return obj

    yield track
    for obj in reversed(opened):
        with contextlib.suppress(Exception):
            obj.close()


def ws_base(org: Org) -> str:
    return org.stack.base_url.replace("http://", "ws://") + "/api/v1"


def test_each_client_sees_its_own_orgs_job_lifecycle_and_nothing_else(
    make_org: Callable[..., Org], closing: Callable[[Any], Any]
) -> None:
    a, b = make_org("rt-a"), make_org("rt-b")
    queue = unique("rt-queue")
    api = a.stack.base_url + "/api/v1"

    # Organization A: every kind of client. Organization B: the same, unfiltered.
    sse_a = closing(SseClient(f"{api}/events", {"Authorization": f"Bearer {a.api_key}"}))
    ws_a = closing(WsClient(f"{ws_base(a)}/ws", {"Authorization": f"Bearer {a.api_key}"}))
    sdk_ws_a = closing(SdkListener(a, "websocket", queue))
    sdk_sse_a = closing(SdkListener(a, "sse", queue))
    sse_b = closing(SseClient(f"{api}/events?api_key={b.api_key}"))
    ws_b = closing(WsClient(f"{ws_base(b)}/ws?api_key={b.api_key}"))
    sdk_ws_b = closing(SdkListener(b, "websocket"))
    sdk_sse_b = closing(SdkListener(b, "sse"))
    for ready in (
        sse_a.connected,
        ws_a.pinged,
        sdk_ws_a.pinged,
        sse_b.connected,
        ws_b.pinged,
        sdk_ws_b.pinged,
    ):
        assert ready.wait(15), "a realtime client did not connect"
    assert sse_a.status == sse_b.status == 200

    client = a.client()
    job_id = client.jobs.create({"queue_name": queue, "payload": {"live": True}}).id
    [job] = claim(client, queue)
    client.jobs.complete(
        job_id, {"worker_id": WORKER, "result": {"ok": 1}, "lease_id": job.lease_id}
    )

    for name, seen in (
        ("SSE", lambda: lifecycle(sse_a.envelopes(), job_id)),
        ("WebSocket", lambda: lifecycle(ws_a.messages, job_id)),
    ):
        got = wait_for(
            lambda s=seen: len(s()) >= 3 and s(),
            timeout=20,
            desc=f"the {name} client to see the job's lifecycle",
        )
        assert got == LIFECYCLE, f"{name} client saw {got}"
    for name, sdk in (("SDK websocket", sdk_ws_a), ("SDK SSE", sdk_sse_a)):
        got = wait_for(
            lambda s=sdk: len(s.names_for(job_id)) >= 3 and s.names_for(job_id),
            timeout=20,
            desc=f"the {name} client to see the job's lifecycle",
        )
        assert got == SDK_LIFECYCLE, f"{name} client saw {got}"
    completed = next(e for e in ws_a.messages if e["type"] == "JobCompleted")
    assert completed["data"]["result"] == {"ok": 1}
    assert completed["data"]["queue_name"] == queue

    # B's clients were connected all along and heard nothing of A's job. A's job events
    # reached four clients through the same hub, so B's had every chance to see them.
    for name, leaked in (
        ("SSE", job_events(sse_b.envelopes())),
        ("WebSocket", job_events(ws_b.messages)),
        ("SDK websocket", sdk_ws_b.job_event_count()),
        ("SDK SSE", sdk_sse_b.job_event_count()),
    ):
        assert not leaked, f"organization B's {name} client saw {leaked}"

    # The SSE ids are stream sequences: resuming after the first replays the rest.
    first = next(
        f
        for f in sse_a.frames
        if f.get("event") == "job.created" and json.loads(f["data"])["data"]["job_id"] == job_id
    )
    resumed = closing(
        SseClient(
            f"{api}/events", {"Authorization": f"Bearer {a.api_key}", "Last-Event-ID": first["id"]}
        )
    )
    got = wait_for(
        lambda: (
            len(lifecycle(resumed.envelopes(), job_id)) >= 2
            and lifecycle(resumed.envelopes(), job_id)
        ),
        timeout=15,
        desc="replay",
    )
    assert got == LIFECYCLE[1:]

    # A job stream of a finished job reports its final state and ends.
    done = closing(SseClient(f"{api}/events/jobs/{job_id}?token={a.api_key}"))
    frame = wait_for(lambda: done.frames and done.frames[0], timeout=15, desc="job status")
    assert frame["event"] == "job.status"
    assert json.loads(frame["data"])["data"]["new_status"] == "completed"


def test_realtime_routes_authenticate_and_enforce_key_scope(org: Org) -> None:
    api = org.stack.base_url + "/api/v1"
    expect(httpx.get(f"{api}/events", timeout=10), 401, "UNAUTHORIZED")
    # ?token= is a realtime-only convenience: other routes still want the header.
    expect(httpx.get(f"{api}/jobs?token={org.api_key}", timeout=10), 401)

    scoped = org.client().api_keys.create({"name": "scoped", "queues": ["allowed"]}).key
    expect(
        httpx.get(f"{api}/events?queue=other&api_key={scoped}", timeout=10), 403, "ACCESS_DENIED"
    )
    expect(httpx.get(f"{api}/events/queues/other?token={scoped}", timeout=10), 403, "ACCESS_DENIED")
    with pytest.raises(websockets.InvalidStatus) as refused:
        ws_client.connect(f"{ws_base(org)}/ws?queue=other&token={scoped}", open_timeout=10)
    assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus) as refused:
        ws_client.connect(f"{ws_base(org)}/ws", open_timeout=10)
    assert refused.value.response.status_code == 401

    missing = SseClient(f"{api}/events/jobs/{unique('no-such-job')}?token={org.api_key}")
    try:
        frame = wait_for(
            lambda: missing.frames and missing.frames[0], timeout=15, desc="error event"
        )
    finally:
        missing.close()
    assert frame["event"] == "error"
    assert json.loads(frame["data"])["data"]["message"] == "Job not found"
