"""The dispatcher: claims due deliveries and sends them, up to N at a time.

The schedule is the ``next_attempt_at`` column, so it survives restarts and is
shared by every replica: each claims with ``FOR UPDATE SKIP LOCKED`` and moves
the row a lease ahead before sending (see ``claim_due_deliveries``). A replica
that dies mid-request leaves the row to be claimed again when the lease ends:
delivery is at least once, and a receiver tells repeats apart by
``webhook-id``.

The loop wakes when the event consumer inserted rows, when a slot frees up, or
when the earliest pending delivery comes due (at most ``poll_interval`` apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
from spooled_common import aio, tracing
from spooled_common.db import maintenance_tx

from spooled_webhooks import metrics
from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.deliveries import outcomes
from spooled_webhooks.deliveries import trace as delivery_trace
from spooled_webhooks.deliveries.outcomes import Claimed, RetryPolicy
from spooled_webhooks.sending import formats, signing
from spooled_webhooks.sending.sender import Outcome, Sender

log = logging.getLogger(__name__)

#: Shortest pause between scans (rows due but held by another replica).
MIN_SLEEP_SECS = 0.05


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: Sender,
        policy: RetryPolicy,
        *,
        max_concurrent: int,
        claim_lease_secs: float,
        poll_interval_secs: float,
    ) -> None:
        self._pool = pool
        self.sender = sender
        self.policy = policy
        self._max = max_concurrent
        self._lease = claim_lease_secs
        self._poll = poll_interval_secs
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Scan now (new rows were inserted or a slot freed up)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self, grace: float) -> None:
        """Stop claiming, give attempts in flight ``grace`` seconds, cancel the rest.

        A cancelled attempt is claimed again after its lease (nothing is lost).
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- the loop ----------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                free = self._max - len(self._inflight)
                claimed = await self.claim(free) if free > 0 else []
                for c in claimed:
                    self._spawn(c)
                if free > 0 and len(claimed) == free:
                    continue  # more may be due; the next scan waits for a free slot
                delay = self._poll if free <= 0 else await self._next_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dispatcher scan failed (%s: %s); retrying", type(exc).__name__, exc)
                delay = self._poll
            await aio.wait_event(self._wake, max(delay, MIN_SLEEP_SECS))

    async def claim(self, limit: int) -> list[Claimed]:
        async with maintenance_tx(self._pool) as conn:
            rows = await conn.fetch(Q.claim_due_deliveries, limit, self._lease)
        return [Claimed.from_row(r) for r in rows]

    async def _next_due(self) -> float:
        async with maintenance_tx(self._pool) as conn:
            due_in = await conn.fetchval(Q.next_due_in)
        return self._poll if due_in is None else min(self._poll, float(due_in))

    def _spawn(self, c: Claimed) -> None:
        task = asyncio.create_task(self.deliver(c), name=f"webhook-delivery-{c.id}")
        self._inflight.add(task)
        metrics.IN_FLIGHT.inc()

        def done(t: asyncio.Task[Outcome]) -> None:
            self._inflight.discard(t)
            metrics.IN_FLIGHT.dec()
            if not t.cancelled() and t.exception() is not None:
                log.error("delivery %s crashed", c.id, exc_info=t.exception())
            self.wake()

        task.add_done_callback(done)

    # -- one attempt ---------------------------------------------------------------
    async def deliver(self, c: Claimed, *, manual: bool = False) -> Outcome:
        """Send one attempt of a claimed delivery and record what happened."""
        if not tracing.enabled() or c.traceparent is None:
            return await self._attempt(c, manual)
        with delivery_trace.attempt_span(c) as span:
            outcome = await self._attempt(c, manual)
            delivery_trace.record(span, outcome)
            return outcome

    async def _attempt(self, c: Claimed, manual: bool) -> Outcome:
        try:
            body = formats.render(c.format, c.payload)
        except Exception as exc:  # a stored payload that no longer parses: never retried
            outcome = Outcome(None, None, f"Unrenderable payload: {exc}", 0.0, refused=True)
        else:
            headers = signing.headers(
                event=c.event,
                delivery_id=c.id,
                attempt=c.attempt,
                secret=c.secret,
                body=body,
                timestamp=int(time.time()),
            )
            outcome = await self.sender.post(c.url, body, headers)
        await outcomes.record(self._pool, c, outcome, self.policy, manual=manual)
        return outcome
