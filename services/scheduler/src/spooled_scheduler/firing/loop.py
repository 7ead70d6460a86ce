"""The firing loop every replica runs: renew or claim the lease, fire if leader, wait.

Each round is ``acquire_or_renew()`` and, on the leader only, one
:meth:`Firer.run_once`. Between rounds the loop waits for the earliest due
tick, at most ``poll_interval`` (so leases are renewed and other replicas'
new schedules are noticed), or until :meth:`wake` is called (a schedule was
written on this replica). Errors are logged and the loop keeps going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from spooled_scheduler import metrics
from spooled_scheduler.clock import Clock
from spooled_scheduler.firing.firer import Firer
from spooled_scheduler.firing.leader import LeaderLease

log = logging.getLogger(__name__)


class FiringLoop:
    def __init__(
        self, lease: LeaderLease, firer: Firer, clock: Clock, *, poll_interval: float
    ) -> None:
        self.lease = lease
        self.firer = firer
        self._clock = clock
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> int:
        """One round; returns the jobs enqueued (0 on a follower)."""
        self._wake.clear()
        if not await self.lease.acquire_or_renew():
            return 0
        with metrics.PASS_SECONDS.time():
            return await self.firer.run_once()

    def wake(self) -> None:
        """Run the next round now (a schedule changed on this replica)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="firing-loop")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the current round, then resign the lease so a successor takes over."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        try:
            await self.lease.resign()
        except Exception:
            log.exception("could not resign the lease; it expires on its own")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.round()
            except Exception:
                log.exception("firing round failed; retrying")
            if not self._stopping:
                await self._pause()

    async def _pause(self) -> None:
        await self._wait(await self._delay())

    async def _delay(self) -> float:
        """Seconds until the next round: the earliest due tick, capped by the poll.

        Ticks the last pass had to leave due (queue-core unavailable, a row
        locked by an edit) are retried after a poll interval, not in a tight loop.
        """
        if not self.lease.is_leader:
            return self._poll_interval
        if self.firer.batch_was_full:
            return 0.0
        try:
            due = await self.firer.earliest_due()
        except Exception:
            return self._poll_interval
        if due is None:
            return self._poll_interval
        wait = (due - self._clock.now()).total_seconds()
        if wait <= 0:
            return self._poll_interval if self.firer.left_due else 0.0
        return min(self._poll_interval, wait)

    async def _wait(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            for task in (sleeper, waker):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
