"""One JetStream subscription per process, fanned out in-process per organization.

Realtime is best-effort and owns its NATS connection (nothing here is shared
with a durable path). The hub reads ``spooled.events.>`` through an ephemeral
*ordered* consumer that starts after the stream's current end, so every event
carries its stream sequence (the SSE ``id:``); nats-py recreates the consumer
from the last sequence seen when heartbeats stop (NATS restarted).

Each connection registers a :class:`Subscriber` for its organization: a bounded
queue. A connection too slow to keep up overflows and is closed; it resumes
from the stream with ``Last-Event-ID`` (:meth:`Hub.replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api
from opentelemetry import trace
from spooled_common import tracing
from spooled_common.tracing import messaging

from spooled_realtime import metrics
from spooled_realtime.envelope import Event, parse

log = logging.getLogger(__name__)

#: Must match ``spooled_queue_core.outbox.wire`` (guarded by tests/unit/test_wire_compat.py).
STREAM = "SPOOLED_EVENTS"
SUBJECT_PREFIX = "spooled.events"
_SAFE = re.compile(r"[A-Za-z0-9_-]")
#: Used only when realtime starts before any relay created the stream.
STREAM_MAX_AGE_SECS = 24 * 3600.0
STREAM_DUPLICATE_WINDOW_SECS = 300.0
RETRY_SECS = 1.0


def token(value: str) -> str:
    """Subject token escaping, identical to the relay's."""
    if not value:
        return "_"
    return "".join(
        ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in value
    )


def org_subject(org_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{token(org_id)}.>"


class Closed(Exception):
    """The subscriber was closed: too slow (overflow) or the service is stopping."""


class Subscriber:
    def __init__(self, org_id: str, maxsize: int) -> None:
        self.org_id = org_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._closed = asyncio.Event()
        self.reason = ""

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            metrics.SLOW_CLIENTS.inc()
            self.close("slow consumer")

    def close(self, reason: str) -> None:
        if not self._closed.is_set():
            self.reason = reason
            self._closed.set()

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds of quiet.

        Raises:
            Closed: the subscriber was closed.
        """
        if self._closed.is_set():
            raise Closed(self.reason)
        if not self._queue.empty():
            return self._queue.get_nowait()
        get = asyncio.ensure_future(self._queue.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait(
                {get, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            if not get.done():
                get.cancel()
        if get in done and not get.cancelled():
            return get.result()
        if closed in done:
            raise Closed(self.reason)
        return None


class Hub:
    def __init__(self, nats_url: str, *, buffer: int = 1000) -> None:
        self._url = nats_url
        self._buffer = buffer
        self._subs: dict[str, set[Subscriber]] = {}
        #: Subject tokens of the organizations with a subscriber here: every event
        #: of the stream reaches this process, most for nobody, and those are
        #: dropped on their subject before their body is parsed.
        self._listening: set[str] = set()
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        #: Highest stream sequence delivered; older redeliveries are dropped.
        self._last_seq = 0

    @property
    def ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._subscribed.is_set()

    async def start(self) -> None:
        """Connect and subscribe in the background (NATS may come up later)."""
        self._task = asyncio.create_task(self._run(), name="realtime-hub")

    async def wait_ready(self, timeout: float) -> None:
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def stop(self) -> None:
        self.close_all("service stopping")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    # -- subscribers -------------------------------------------------------------
    def register(self, org_id: str) -> Subscriber:
        sub = Subscriber(org_id, self._buffer)
        self._subs.setdefault(org_id, set()).add(sub)
        self._listening.add(token(org_id))
        return sub

    def unregister(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.org_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.org_id]
                self._listening.discard(token(sub.org_id))

    def close_all(self, reason: str) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.close(reason)

    def dispatch(self, event: Event) -> None:
        for sub in tuple(self._subs.get(event.org_id, ())):
            sub.offer(event)

    def listening(self, subject: str) -> bool:
        """Whether anyone here wants events on ``subject`` (spooled.events.<org>.<queue>.<event>)."""
        parts = subject.split(".", 3)
        return len(parts) > 2 and parts[2] in self._listening

    # -- NATS ----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._connect_and_subscribe()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("realtime hub: %s: %s; retrying", type(exc).__name__, exc)
                if self._nc is not None:
                    with contextlib.suppress(Exception):
                        await self._nc.close()
                    self._nc = None
                await asyncio.sleep(RETRY_SECS)

    async def _connect_and_subscribe(self) -> None:
        async def on_error(exc: Exception) -> None:
            log.debug("realtime NATS: %s", exc)

        self._nc = await nats.connect(
            self._url,
            name="realtime",
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=on_error,
        )
        js = self._nc.jetstream()
        try:
            info = await js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            info = await js.add_stream(
                api.StreamConfig(
                    name=STREAM,
                    subjects=[f"{SUBJECT_PREFIX}.>"],
                    max_age=STREAM_MAX_AGE_SECS,
                    duplicate_window=STREAM_DUPLICATE_WINDOW_SECS,
                    storage=api.StorageType.FILE,
                )
            )
        self._last_seq = info.state.last_seq
        sub = await js.subscribe(
            f"{SUBJECT_PREFIX}.>",
            stream=STREAM,
            cb=self._on_msg,
            ordered_consumer=True,
            idle_heartbeat=2.0,
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._last_seq + 1
            ),
        )
        # If heartbeats stop before the first message, nats-py recreates the
        # consumer from its last seen sequence (0 → the whole stream); start it
        # from where we began instead.
        jsi = getattr(sub, "_jsi", None)
        if jsi is not None and getattr(jsi, "_sseq", None) == 0:
            jsi._sseq = self._last_seq
        self._subscribed.set()
        log.info("realtime hub subscribed to %s from sequence %d", STREAM, self._last_seq + 1)

    async def _on_msg(self, msg: Msg) -> None:
        try:
            seq = msg.metadata.sequence.stream
        except Exception:
            return
        if seq <= self._last_seq:
            return
        self._last_seq = seq
        metrics.EVENTS_RECEIVED.inc()
        if not self.listening(msg.subject):
            return
        event = parse(msg.data, seq)
        if event is None:
            return
        if not tracing.enabled():
            self.dispatch(event)
            return
        # Fan-out to this replica's streams, in the trace of whatever caused the event.
        span = messaging.process_span(
            event.name,
            msg.subject,
            msg.headers,
            messaging.event_attributes(event.name, event.org_id, event.queue, event.job_id),
        )
        with trace.use_span(span, end_on_exit=True):
            self.dispatch(event)

    # -- resume --------------------------------------------------------------------
    async def replay(self, org_id: str, after_seq: int, limit: int) -> list[Event]:
        """Stored events of ``org_id`` after ``after_seq`` (oldest first, at most ``limit``)."""
        if self._nc is None or not self._nc.is_connected or limit <= 0:
            return []
        jsm = self._nc.jetstream()
        out: list[Event] = []
        seq = after_seq + 1
        while len(out) < limit:
            try:
                raw = await jsm.get_msg(STREAM, seq=seq, subject=org_subject(org_id), next=True)
            except nats.js.errors.NotFoundError:
                break
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("replay after %d stopped: %s", after_seq, exc)
                break
            if raw.seq is None:
                break
            event = parse(raw.data or b"", raw.seq)
            if event is not None:
                out.append(event)
            seq = raw.seq + 1
        return out
