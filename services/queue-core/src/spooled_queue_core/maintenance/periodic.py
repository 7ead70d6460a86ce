"""A background loop: ``run_once()`` every interval until stopped.

Errors other than cancellation are logged and the loop keeps going; a
database blip must not kill the reaper for the life of the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from spooled_common import aio

log = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self, name: str, interval: float, run_once: Callable[[], Awaitable[object]]
    ) -> None:
        self.name = name
        self._interval = interval
        self._run_once = run_once
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: run failed; retrying next interval", self.name)
            await aio.wait_event(self._stop, self._interval)
