"""Wake long-polling claimers when work arrives, through Postgres LISTEN/NOTIFY.

Every statement that makes a job claimable now (enqueue, retry, requeue,
resume, a delayed job coming due) also runs ``pg_notify(CHANNEL, org\\tqueue)``
in its transaction, so the notification is delivered on commit and never
before the job is visible. Each process keeps ONE dedicated listener
connection and fans notifications out to the waiters of that (org, queue).

A waiter subscribes *before* its claim attempt, so a notification arriving
between an empty claim and the wait is not lost. If the listener connection
drops, every waiter is woken on reconnect (notifications may have been missed
meanwhile), and waiters also re-check on a bounded timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import asyncpg
from spooled_common import aio

log = logging.getLogger(__name__)

#: Versioned: the name crosses process boundaries (every replica listens on it).
CHANNEL = "spooled_core_jobs_v1"

_Key = tuple[str, str]


def payload(org_id: str, queue: str) -> str:
    """The notification payload for one (org, queue); see the SQL `wake` CTEs."""
    return f"{org_id}\t{queue}"


class Wakeup:
    """The per-process listener and its waiters."""

    def __init__(self, dsn: str, *, channel: str = CHANNEL, reconnect_delay: float = 1.0) -> None:
        self._dsn = dsn
        self.channel = channel
        self._reconnect_delay = reconnect_delay
        self._waiters: dict[_Key, set[asyncio.Event]] = {}
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Set when the process shuts down: waiting claims return at once.
        self.closing = False
        #: Seconds between liveness probes of the idle listener connection.
        self.probe_interval = 30.0

    async def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the first connection is up."""
        self._task = asyncio.create_task(self._run(), name="wakeup-listener")
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def stop(self) -> None:
        self.closing = True
        self.wake_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @contextlib.contextmanager
    def subscribe(self, org_id: str, queue: str) -> Iterator[asyncio.Event]:
        """An event set when (org, queue) may have new claimable work."""
        event = asyncio.Event()
        if self.closing:
            event.set()
        key = (org_id, queue)
        self._waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[key]

    def wake(self, org_id: str, queue: str) -> None:
        for event in self._waiters.get((org_id, queue), ()):
            event.set()

    def wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, message: str) -> None:
        org_id, sep, queue = message.partition("\t")
        if sep:
            self.wake(org_id, queue)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("wake-up listener lost (%s); reconnecting", exc)
            self._connected.clear()
            await asyncio.sleep(self._reconnect_delay)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "queue-core-wakeup"}
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        try:
            await conn.add_listener(self.channel, self._on_notify)
            self._connected.set()
            # Anything sent while we were away is lost: let every waiter re-check.
            self.wake_all()
            while not lost.is_set():
                # A half-open TCP connection never reports loss: probe it now and then.
                if await aio.wait_event(lost, self.probe_interval):
                    break
                await asyncio.wait_for(conn.fetchval("SELECT 1"), 5)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
