"""The scheduler's notion of "now", injected so tests can drive time.

Everything time-based (due ticks, lease expiry, run timestamps) reads
``clock.now()`` and waits with ``clock.sleep()``; nothing calls
``datetime.now()`` or the database's ``now()`` for scheduling decisions.
Replicas compare lease expiry with their own clocks, so the lease TTL must
stay well above the clock skew between hosts (NTP keeps it in milliseconds).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` of this clock's time have passed."""
        ...


class SystemClock:
    """Wall-clock time of the host."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ManualClock:
    """A clock that moves only when told to (tests).

    ``sleep()`` returns once ``advance()``/``set()`` has moved the clock past
    the sleeper's deadline, so a loop under test runs exactly as time allows.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=max(seconds, 0.0))
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= deadline)

    async def advance(self, seconds: float) -> datetime:
        return await self.set(self._now + timedelta(seconds=seconds))

    async def set(self, instant: datetime) -> datetime:
        if instant < self._now:
            raise ValueError("a ManualClock never goes backwards")
        self._now = instant.astimezone(UTC)
        async with self._moved:
            self._moved.notify_all()
        return self._now
