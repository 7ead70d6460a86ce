"""The durable JetStream consumer: stream events in, delivery rows out, then ack.

* **Durable and shared.** One pull consumer (``WEBHOOKS_CONSUMER_NAME``) on
  ``SPOOLED_EVENTS``; every replica pulls from it, so each message goes to one
  replica at a time. Its position lives in JetStream, so a restart or a NATS
  outage resumes where it stopped.
* **Ack after commit.** A batch is fanned out in one transaction and its
  messages are acknowledged only after that commit. A failure naks them (with
  a delay) and they come again; redelivered messages derive the same delivery
  ids, so nothing is inserted twice.
* **Tracing.** Each event is handled in a ``process <event>`` span continuing
  the context in the message headers; the delivery rows it creates store that
  span's context, which the dispatcher's attempts continue.
* **Outages.** The NATS client reconnects forever; while it is away, fetches
  fail and the loop backs off. If the stream does not exist yet (queue-core
  creates it on its first publish) this service creates it with the same
  settings, so the consumer can exist before the first event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from opentelemetry import trace
from spooled_common import tracing
from spooled_common.tracing import messaging

from spooled_webhooks import metrics
from spooled_webhooks.events import wire
from spooled_webhooks.events.wire import StreamEvent

log = logging.getLogger(__name__)

#: Fan-out of one batch: returns how many delivery rows are new.
FanOut = Callable[[Sequence[StreamEvent]], Awaitable[int]]

FETCH_TIMEOUT_SECS = 1.0
#: Backoff between failed rounds (NATS away, database away).
RETRY_MIN_SECS, RETRY_MAX_SECS = 0.2, 5.0
#: How often an idle consumer checks that its durable consumer still exists
#: (a NATS restarted without its store forgets it; fetches then just time out).
CONSUMER_CHECK_SECS = 30.0


class EventConsumer:
    def __init__(
        self,
        nats_url: str,
        fan_out: FanOut,
        *,
        consumer_name: str,
        deliver_policy: str = "all",
        batch: int = 256,
        ack_wait_secs: float = 30.0,
        on_rows: Callable[[], None] = lambda: None,
    ) -> None:
        self._url = nats_url
        self._fan_out = fan_out
        self._name = consumer_name
        self._policy = api.DeliverPolicy.NEW if deliver_policy == "new" else api.DeliverPolicy.ALL
        self._batch = batch
        self._ack_wait = ack_wait_secs
        self._on_rows = on_rows
        self._nc: NatsClient | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        #: Set once the durable consumer is bound (readiness detail, tests).
        self.subscribed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def jetstream(self) -> JetStreamContext | None:
        """The consumer's JetStream context while connected (own events publish on it)."""
        return self._nc.jetstream(timeout=5.0) if self.connected and self._nc else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    # -- connection and subscription ------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                await self._subscribe()
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._note_failure(exc)
                self._sub = None
                self.subscribed.clear()
                await asyncio.sleep(self._backoff())

    async def _connect(self) -> None:
        if self._nc is not None:
            return

        async def on_error(exc: Exception) -> None:
            log.debug("webhooks NATS: %s", exc)

        async def on_disconnect() -> None:
            log.warning("webhooks NATS connection lost; events wait in the stream")

        async def on_reconnect() -> None:
            log.info("webhooks NATS connection restored")

        self._nc = await asyncio.wait_for(
            nats.connect(
                self._url,
                name="webhooks",
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            ),
            10,
        )

    async def _subscribe(self) -> None:
        assert self._nc is not None
        js = self._nc.jetstream(timeout=5.0)
        try:
            await js.stream_info(wire.STREAM)
        except nats.js.errors.NotFoundError:
            with contextlib.suppress(nats.js.errors.BadRequestError):
                await js.add_stream(
                    api.StreamConfig(
                        name=wire.STREAM,
                        subjects=[f"{wire.SUBJECT_PREFIX}.>"],
                        retention=api.RetentionPolicy.LIMITS,
                        storage=api.StorageType.FILE,
                        discard=api.DiscardPolicy.OLD,
                        max_age=wire.STREAM_MAX_AGE_SECS,
                        duplicate_window=wire.STREAM_DUPLICATE_WINDOW_SECS,
                    )
                )
        self._sub = await js.pull_subscribe(
            f"{wire.SUBJECT_PREFIX}.>",
            durable=self._name,
            stream=wire.STREAM,
            config=api.ConsumerConfig(
                deliver_policy=self._policy,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait,
                max_deliver=-1,
                max_ack_pending=max(1000, self._batch * 4),
            ),
        )
        self.subscribed.set()
        log.info("consuming %s as durable consumer %s", wire.STREAM, self._name)

    # -- the loop ------------------------------------------------------------------
    async def _consume(self) -> None:
        assert self._sub is not None and self._nc is not None
        checked = time.monotonic()
        while True:
            try:
                msgs = await self._sub.fetch(self._batch, timeout=FETCH_TIMEOUT_SECS)
            except TimeoutError:  # nats.errors.TimeoutError, or asyncio's from inside fetch
                if time.monotonic() - checked > CONSUMER_CHECK_SECS:
                    checked = time.monotonic()
                    await self._check_consumer()
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                await asyncio.sleep(self._backoff())
                continue
            await self.handle(msgs)

    async def _check_consumer(self) -> None:
        if not self.connected or self._nc is None:
            return
        try:
            await self._nc.jetstream(timeout=5.0).consumer_info(wire.STREAM, self._name)
        except nats.js.errors.NotFoundError as exc:
            raise RuntimeError(f"durable consumer {self._name} disappeared") from exc
        except (nats.errors.Error, TimeoutError):
            pass  # NATS away: the next fetch says so

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Fan out one fetched batch, then ack it (or nak it all on failure)."""
        events = []
        spans: list[trace.Span] = []
        for msg in msgs:
            ev = wire.parse(msg.data, (msg.headers or {}).get("Nats-Msg-Id"))
            if ev is None:
                log.warning("dropping malformed event on %s", msg.subject)
            else:
                events.append(self._traced(ev, msg, spans))
        try:
            created = await self._fan_out(events)
        except Exception as exc:
            _end_spans(spans, exc)
            self._note_failure(exc)
            delay = self._backoff()
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.nak(delay=delay)
            await asyncio.sleep(delay)
            return
        for msg in msgs:
            with contextlib.suppress(Exception):
                await msg.ack()
        _end_spans(spans)
        if self._failures:
            log.info("event fan-out working again after %d failure(s)", self._failures)
            self._failures = 0
        metrics.EVENTS_CONSUMED.inc(len(events))
        if created:
            metrics.DELIVERIES_QUEUED.inc(created)
            self._on_rows()

    def _traced(self, ev: StreamEvent, msg: Msg, spans: list[trace.Span]) -> StreamEvent:
        """Start ``process <event>`` (child of the publisher's span); its deliveries keep it."""
        if not tracing.enabled():
            return ev
        span = messaging.process_span(
            ev.name,
            msg.subject,
            msg.headers,
            messaging.event_attributes(ev.name, ev.org_id, ev.queue, ev.data.get("job_id")),
            consumer_group=self._name,
        )
        spans.append(span)
        return dataclasses.replace(ev, traceparent=tracing.traceparent(span))

    def _note_failure(self, exc: BaseException) -> None:
        if self._failures == 0:
            log.warning("event consumer: %s: %s; retrying with backoff", type(exc).__name__, exc)
        self._failures += 1

    def _backoff(self) -> float:
        delay = min(RETRY_MAX_SECS, RETRY_MIN_SECS * 2 ** min(self._failures, 8))
        return delay * (0.75 + random.random() / 2)


def _end_spans(spans: Sequence[trace.Span], error: Exception | None = None) -> None:
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
        span.end()
