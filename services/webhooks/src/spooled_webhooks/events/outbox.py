"""This service's own events (``webhook.disabled``) from ``webhooks.outbox`` to the stream.

Rows are written in the transaction that disables an endpoint and published
afterwards on the consumer's NATS connection, in id order, each with
``Nats-Msg-Id: webhooks-<database oid>-<id>`` so a re-publish after a crash is
dropped by JetStream's duplicate window. Subject:
``spooled.events.<org>._.webhook.disabled``. Every replica runs it without
locking: two replicas publishing the same row send the same message id, and
the rows are few (one per disabled endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
import orjson
from nats.js import JetStreamContext
from spooled_common import aio, timefmt
from spooled_common.db import maintenance_tx

from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.events import wire

log = logging.getLogger(__name__)

BATCH = 100


class OutboxPublisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        jetstream: Callable[[], JetStreamContext | None],
        *,
        interval_secs: float,
    ) -> None:
        self._pool = pool
        self._js = jetstream
        self._interval = interval_secs
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._namespace: str | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("own events not published yet (%s: %s)", type(exc).__name__, exc)
            await aio.wait_event(self._wake, self._interval)

    async def publish_pending(self) -> int:
        """Publish unpublished rows in order; stops at the first failure. Returns rows sent."""
        js = self._js()
        if js is None:
            return 0
        async with maintenance_tx(self._pool) as conn:
            if self._namespace is None:
                self._namespace = str(
                    await conn.fetchval(
                        "SELECT oid FROM pg_database WHERE datname = current_database()"
                    )
                )
            rows = await conn.fetch(Q.outbox_next_batch, BATCH)
        done: list[int] = []
        try:
            for row in rows:
                await js.publish(
                    wire.subject(row["organization_id"], None, row["event_type"]),
                    _body(row),
                    stream=wire.STREAM,
                    headers={"Nats-Msg-Id": f"webhooks-{self._namespace}-{row['id']}"},
                )
                done.append(row["id"])
        finally:
            if done:
                async with maintenance_tx(self._pool) as conn:
                    await conn.execute(Q.outbox_mark_published, done)
        return len(done)


def _body(row: asyncpg.Record) -> bytes:
    """The same body shape as queue-core's relay (``v``, ``outbox_id`` … ``data``)."""
    head = orjson.dumps(
        {
            "v": 1,
            "outbox_id": row["id"],
            "event": row["event_type"],
            "organization_id": row["organization_id"],
            "queue_name": None,
            "aggregate": "webhook",
            "created_at": timefmt.iso(row["created_at"]),
        }
    )
    return head[:-1] + b',"data":' + row["payload"].encode() + b"}"
