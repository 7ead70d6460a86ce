"""The transactional-outbox relay: ``core.outbox`` → JetStream ``SPOOLED_EVENTS``.

Rows are written by the same transaction as the state change they describe;
this loop publishes them afterwards, so NATS never sees an event that was
rolled back, and an outage of NATS delays events without losing any.

* **One relay at a time.** Every replica runs this task, but only the holder of
  a session advisory lock relays. The lock lives on the relay's own connection
  and Postgres releases it the moment that connection dies, so another replica
  takes over within ``leader_retry_secs``.
* **Order.** A batch (rows in id order) is cut into windows: runs of
  consecutive rows of different aggregates (the job, queue, worker or workflow
  of one organization), at most ``publish_window`` long. A window's publishes
  are sent in row order on the one connection and awaited together; the next
  window starts only once every row of this one was acked. Should any fail,
  the window's acked rows are stamped ``published_at`` (no row depends on a
  row of another aggregate) and the batch ends: the failed rows and the later
  windows are retried after a backoff. Hence, strictly per aggregate, an event
  is published only after JetStream acked the aggregate's earlier events:
  never alongside them, never ahead of them. Across aggregates the stream
  follows id order unless a publish fails; a retried row then lands after
  later rows of other aggregates. ``publish_window`` = 1 publishes one row at
  a time, in id order, as a strict total order.
* **Once in the stream.** ``Nats-Msg-Id`` names the row, so a row published but
  not yet stamped (crash, lost DB connection, leader change) is dropped by
  JetStream's duplicate window when it is published again.
* **Wake-ups.** The relay LISTENs on queue-core's job channel (every enqueue
  notifies) and otherwise re-checks every ``poll_interval_secs`` through the
  partial index of unpublished rows; a full batch is followed at once by the next.
* **Retention.** The leader deletes published rows older than ``retention_secs``.
* **Tracing.** A row written under a trace (its ``traceparent`` column) is
  published inside a ``publish <event>`` span, whose context rides along in
  the message headers for the consumers to continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

import asyncpg
from spooled_common import aio, tracing
from spooled_common.tracing import messaging

from spooled_queue_core.db import QUERIES as Q
from spooled_queue_core.outbox import metrics, wire
from spooled_queue_core.outbox.publisher import Publisher, PublishError
from spooled_queue_core.outbox.settings import RelaySettings
from spooled_queue_core.outbox.windows import sequence_key, windows
from spooled_queue_core.wakeup import CHANNEL as JOBS_CHANNEL

log = logging.getLogger(__name__)

#: Two-int advisory lock key (its own key space, apart from hashtext() bigint keys).
#: Versioned: every replica must contend for the same lock.
LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('spooled'), hashtext('core_outbox_relay_v1'))"
#: Any statement of the relay gives up after this long (a half-open connection).
STATEMENT_TIMEOUT_SECS = 30.0


class Backoff:
    """Doubling delay with jitter, between ``low`` and ``high`` seconds."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self._attempt = 0

    def next(self) -> float:
        delay = min(self.high, self.low * 2**self._attempt)
        self._attempt += 1
        return delay * (0.75 + random.random() / 2)

    def reset(self) -> None:
        self._attempt = 0


class OutboxRelay:
    """Start with :meth:`start`, stop with :meth:`stop`; both are cheap when disabled."""

    def __init__(
        self,
        dsn: str,
        settings: RelaySettings,
        *,
        wake_channel: str = JOBS_CHANNEL,
        publisher: Publisher | None = None,
    ) -> None:
        self._dsn = dsn
        self.settings = settings
        self._wake_channel = wake_channel
        self.publisher = publisher or Publisher(settings)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: True while this replica holds the relay lock.
        self.is_leader = False
        self._failures = 0

    @classmethod
    def from_env(cls, dsn: str, wake_channel: str = JOBS_CHANNEL) -> OutboxRelay:
        settings = RelaySettings()
        settings.check()
        return cls(dsn, settings, wake_channel=wake_channel)

    async def start(self) -> OutboxRelay:
        if not self.settings.enabled:
            log.warning("outbox relay disabled (NATS_URL is not set); events wait in core.outbox")
            return self
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.publisher.close()
        self._set_leader(False)

    def poke(self) -> None:
        """Ask for an immediate round (also what a NOTIFY does)."""
        self._wake.set()

    # -- leadership ------------------------------------------------------------
    async def _run(self) -> None:
        backoff = Backoff(self.settings.retry_min_secs, self.settings.retry_max_secs)
        while True:
            try:
                await self._session(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "outbox relay session ended (%s: %s); retrying", type(exc).__name__, exc
                )
            self._set_leader(False)
            await asyncio.sleep(backoff.next())

    async def _session(self, backoff: Backoff) -> None:
        conn = await asyncpg.connect(
            self._dsn, timeout=10, server_settings={"application_name": "queue-core-outbox"}
        )
        try:
            # Cross-tenant by nature: this dedicated connection reads every org's rows.
            await conn.execute("SELECT set_config('app.maintenance', 'on', false)")
            await self._wait_for_lock(conn)
            self._set_leader(True)
            backoff.reset()
            await conn.add_listener(self._wake_channel, self._on_notify)
            namespace = str(
                await conn.fetchval(
                    "SELECT oid FROM pg_database WHERE datname = current_database()"
                )
            )
            await self._lead(conn, namespace)
        finally:
            self._set_leader(False)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _wait_for_lock(self, conn: asyncpg.Connection) -> None:
        # A try-lock on a timer (not a blocking pg_advisory_lock) keeps the
        # connection usable and its liveness checked while we wait.
        while True:
            if await conn.fetchval(LOCK_SQL, timeout=STATEMENT_TIMEOUT_SECS):
                return
            await asyncio.sleep(self.settings.leader_retry_secs)

    def _set_leader(self, leader: bool) -> None:
        if leader != self.is_leader:
            log.info("outbox relay %s", "is now the leader" if leader else "stepped down")
        self.is_leader = leader
        metrics.OUTBOX_LEADER.set(1 if leader else 0)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    # -- the leader's loop -----------------------------------------------------
    async def _lead(self, conn: asyncpg.Connection, namespace: str) -> None:
        s = self.settings
        backoff = Backoff(s.retry_min_secs, s.retry_max_secs)
        next_cleanup = time.monotonic()
        while True:
            self._wake.clear()
            try:
                full = await self.relay_once(conn, namespace)
            except PublishError as exc:
                self._note_failure(exc)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            if time.monotonic() >= next_cleanup:
                await self.cleanup(conn)
                next_cleanup = time.monotonic() + s.cleanup_interval_secs
            if not full:
                await aio.wait_event(self._wake, s.poll_interval_secs)

    async def relay_once(self, conn: asyncpg.Connection, namespace: str) -> bool:
        """Publish the next batch, window by window; True when it was full (more may wait).

        Raises:
            PublishError: in the first window with an event NATS did not take;
                the events acked so far (earlier windows and the rest of this
                one) are stamped published, the others stay for the next try.
        """
        s = self.settings
        rows = await conn.fetch(Q.outbox_next_batch, s.batch_size, timeout=STATEMENT_TIMEOUT_SECS)
        metrics.OUTBOX_LAG.set(rows[0]["age_secs"] if rows else 0)
        if rows and not self.publisher.connected:
            await self._connect_nats()
        done: list[int] = []
        try:
            for window in windows(rows, s.publish_window, sequence_key):
                await self._publish_window(window, namespace, done)
        finally:
            if done:
                await conn.execute(Q.outbox_mark_published, done, timeout=STATEMENT_TIMEOUT_SECS)
                metrics.OUTBOX_PUBLISHED.inc(len(done))
        if self._failures:
            log.info("outbox relay publishing again after %d failed attempt(s)", self._failures)
            self._failures = 0
        return len(rows) == s.batch_size

    async def _publish_window(
        self, window: Sequence[asyncpg.Record], namespace: str, acked: list[int]
    ) -> None:
        """Publish rows of different aggregates together; adds the ids JetStream stored to ``acked``.

        Raises:
            PublishError: the first failure in row order, once every publish has ended.
        """
        # A lone row needs no task: a window of 1 then costs what a publish did before windows.
        if len(window) == 1:
            await self._publish(window[0], namespace)
            acked.append(window[0]["id"])
            return
        await self.publisher.ready()
        # Tasks start in creation order and each publish is in the client's
        # write buffer before it first waits, so the messages leave in row
        # order, written together by one flush.
        tasks = [asyncio.create_task(self._publish(row, namespace)) for row in window]
        try:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # Also on cancellation: whatever was acked by then is stamped.
            acked.extend(row["id"] for row, task in zip(window, tasks, strict=True) if _ok(task))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _publish(self, row: asyncpg.Record, namespace: str) -> None:
        subject = wire.subject(row["organization_id"], row["queue_name"], row["event_type"])
        msg_id = wire.msg_id(namespace, row["id"])
        if not tracing.enabled() or not row["traceparent"]:
            await self.publisher.publish(subject, _body(row), msg_id)
            return
        # The row's context (its job's enqueue, or the request that wrote it)
        # parents the publish span, whose context consumers read from the headers.
        attributes = messaging.event_attributes(
            row["event_type"], row["organization_id"], row["queue_name"], row["aggregate"]
        )
        with messaging.publish_span(
            row["event_type"], subject, msg_id, row["traceparent"], attributes
        ):
            headers: dict[str, str] = {}
            tracing.inject(headers)
            await self.publisher.publish(subject, _body(row), msg_id, headers)

    async def _connect_nats(self) -> None:
        try:
            await self.publisher.connect()
        except Exception as exc:
            raise PublishError(f"cannot connect to NATS: {exc}") from exc

    def _note_failure(self, exc: PublishError) -> None:
        metrics.OUTBOX_PUBLISH_FAILURES.inc()
        if self._failures == 0:
            log.warning("outbox relay cannot publish (%s); retrying with backoff", exc)
        self._failures += 1

    async def cleanup(self, conn: asyncpg.Connection) -> int:
        """Retention sweep plus the backlog gauge; returns rows deleted."""
        s = self.settings
        deleted = 0
        while True:
            status = await conn.execute(
                Q.outbox_delete_published,
                s.retention_secs,
                s.cleanup_batch_size,
                timeout=STATEMENT_TIMEOUT_SECS,
            )
            n = int(status.split()[-1])
            deleted += n
            if n < s.cleanup_batch_size:
                break
        metrics.OUTBOX_DELETED.inc(deleted)
        backlog = await conn.fetchrow(Q.outbox_backlog, timeout=STATEMENT_TIMEOUT_SECS)
        metrics.OUTBOX_PENDING.set(backlog["pending"])
        return deleted


def _ok(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _body(row: asyncpg.Record) -> bytes:
    return wire.body(
        outbox_id=row["id"],
        event=row["event_type"],
        org_id=row["organization_id"],
        queue=row["queue_name"],
        aggregate=row["aggregate"],
        created_at=row["created_at"],
        data=row["payload"],
    )
