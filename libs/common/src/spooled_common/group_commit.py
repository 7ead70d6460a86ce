"""Group commit per key: requests that arrive while their key's call is on its way go together.

The gateway's job completions and queue-core's billing reservations both pay
one round trip and one commit per call, whatever the call carries. So each key
(a tenant) has a lane: a request finds the lane idle and its call goes at once
(a lone caller waits for nothing, and no timer is involved), or finds calls in
flight and waits to go with everything else that arrived meanwhile. Under load
the batches grow by themselves.

The caller's ``send(key, batch)`` makes the call for a batch of ``(item,
future)`` pairs and settles each future with that item's own answer; this
module only decides who travels together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item, beside K and R
R = TypeVar("R")


@dataclass
class _Lane(Generic[I, R]):
    """One key's requests waiting for a call, and how many of its calls are in flight."""

    waiting: list[tuple[I, asyncio.Future[R]]] = field(default_factory=list)
    in_flight: int = 0


class GroupCommit(Generic[K, I, R]):
    def __init__(
        self,
        send: Callable[[K, list[tuple[I, asyncio.Future[R]]]], Awaitable[None]],
        *,
        max_batch: int | None = None,
        max_in_flight: int = 1,
    ) -> None:
        """``max_batch`` caps one call (None: all that waits); ``max_in_flight`` calls per key."""
        self._send = send
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._lanes: dict[K, _Lane[I, R]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: I) -> R:
        """``item``'s answer, from the call it travelled in (or that call's error)."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        lane.waiting.append((item, future))
        if lane.in_flight < self._max_in_flight:
            lane.in_flight += 1
            task = asyncio.create_task(self._flush(key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self, key: K, lane: _Lane[I, R]) -> None:
        try:
            while lane.waiting:
                size = self._max_batch or len(lane.waiting)
                batch = lane.waiting[:size]
                del lane.waiting[:size]
                await self._send(key, batch)
        finally:
            lane.in_flight -= 1
            if lane.in_flight == 0 and not lane.waiting and self._lanes.get(key) is lane:
                del self._lanes[key]

    async def close(self, timeout: float = 5.0) -> None:
        """Let the calls in flight finish (shutdown)."""
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(list(self._tasks), timeout=timeout)
