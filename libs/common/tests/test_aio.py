"""wait_event: woken, timed out, and a cancellation racing a wake-up is never lost."""

from __future__ import annotations

import asyncio

import pytest
from spooled_common.aio import wait_event


async def test_woken_and_timed_out() -> None:
    ev = asyncio.Event()
    assert await wait_event(ev, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, ev.set)
    assert await wait_event(ev, 5) is True


async def test_a_cancel_arriving_with_the_wake_up_stops_the_loop() -> None:
    """The shape of every background loop: wake-ups keep coming while it is cancelled."""
    ev = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            ev.clear()
            await wait_event(ev, 10)
            rounds += 1

    for _ in range(200):
        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        ev.set()  # the waiter's wait() completes in this same tick...
        task.cancel()  # ...and so does the cancellation
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 5)
        assert task.cancelled()
