"""The relay's own NATS connection: ensure the stream, publish an event, wait for its ack.

:meth:`Publisher.publish` awaits one event's ack. The relay runs several at
once, but only for events of different aggregates, and publishes a later event
of an aggregate only after the earlier one was acked (relay.py, "Order."). So
this connection never has to keep two events of one aggregate in order: it
only sends messages in the order they were published, and nothing is buffered
while it is down (an unacked event is retried from the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext, api

from spooled_queue_core.outbox import wire
from spooled_queue_core.outbox.settings import RelaySettings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECS = 5.0


class PublishError(Exception):
    """NATS did not acknowledge an event; it stays unpublished and is retried."""


def stream_config(settings: RelaySettings) -> api.StreamConfig:
    return api.StreamConfig(
        name=wire.STREAM,
        subjects=list(wire.STREAM_SUBJECTS),
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,
        max_age=settings.stream_max_age_secs,
        duplicate_window=settings.duplicate_window_secs,
        num_replicas=1,
    )


class Publisher:
    def __init__(self, settings: RelaySettings) -> None:
        self._settings = settings
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        """Connect once; the client then reconnects by itself for as long as we run."""
        if self._nc is not None:
            return
        # Bounded: with unlimited reconnects nats-py would wait for a first server forever.
        self._nc = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT_SECS)

    async def _connect(self) -> NatsClient:
        async def on_error(exc: Exception) -> None:
            log.debug("outbox NATS: %s", exc)

        async def on_disconnect() -> None:
            log.warning("outbox NATS connection lost; events wait in the outbox")

        async def on_reconnect() -> None:
            log.info("outbox NATS connection restored")

        return await nats.connect(
            self._settings.nats_url,
            name="queue-core-outbox",
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            # Nothing is buffered while disconnected: an unacked event is simply
            # retried from the outbox, never flushed late out of order.
            pending_size=0,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )

    async def close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception as exc:
                log.debug("closing outbox NATS connection: %s", exc)
            self._nc = None
            self._js = None
            self._stream_ready = False

    async def ensure_stream(self) -> None:
        """Create ``SPOOLED_EVENTS`` when missing; an existing one is left as configured."""
        if self._stream_ready:
            return
        assert self._nc is not None
        jsm = self._nc.jetstream(timeout=self._settings.publish_timeout_secs)
        try:
            await jsm.stream_info(wire.STREAM)
        except nats.js.errors.NotFoundError:
            await jsm.add_stream(stream_config(self._settings))
            log.info("created JetStream stream %s", wire.STREAM)
        self._stream_ready = True

    async def ready(self) -> JetStreamContext:
        """The JetStream context, connected and with the stream in place.

        The relay calls it before starting a window of publishes, so they do
        not each look the stream up at once, and each one's message is in the
        write buffer before it first waits (the window leaves in row order).

        Raises:
            PublishError: not connected, or the stream could not be checked.
        """
        if self._nc is None or not self._nc.is_connected:
            raise PublishError("NATS is not connected")
        with self._publish_errors():
            await self.ensure_stream()
        if self._js is None:
            self._js = self._nc.jetstream(timeout=self._settings.publish_timeout_secs)
        return self._js

    async def publish(
        self, subject: str, body: bytes, msg_id: str, extra_headers: dict[str, str] | None = None
    ) -> None:
        """Publish one event and wait for JetStream to store it.

        ``extra_headers`` carry the trace context (``traceparent``) when tracing is on.

        Raises:
            PublishError: not connected, timed out, or refused; nothing to undo.
        """
        js = await self.ready()
        headers = {"Nats-Msg-Id": msg_id, **(extra_headers or {})}
        with self._publish_errors():
            await js.publish(subject, body, stream=wire.STREAM, headers=headers)

    @contextlib.contextmanager
    def _publish_errors(self) -> Iterator[None]:
        try:
            yield
        except nats.js.errors.NoStreamResponseError as exc:
            # The stream vanished (e.g. NATS restarted without its store): recreate next time.
            self._stream_ready = False
            raise PublishError("no JetStream stream answered") from exc
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc
