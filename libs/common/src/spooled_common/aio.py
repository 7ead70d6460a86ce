"""Small asyncio helpers every service's background loops share."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True when it was set.

    Loops that sleep "until woken or the next poll" must use this, not
    ``asyncio.wait_for(event.wait(), timeout)``: on Python 3.11 ``wait_for``
    loses a cancellation that arrives just as the event is set (gh-86296), so a
    ``task.cancel()`` on shutdown is swallowed, the loop goes round again and
    ``await task`` never returns. ``asyncio.timeout`` does not have that race.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
