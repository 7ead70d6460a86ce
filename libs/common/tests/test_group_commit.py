"""Who travels together in spooled_common.group_commit (pure asyncio, no I/O)."""

from __future__ import annotations

import asyncio

from spooled_common.group_commit import GroupCommit


async def settle() -> None:
    """Let every ready task run: the submits, then the flushes they start."""
    for _ in range(5):
        await asyncio.sleep(0)


class Recorder:
    """A send that records each call's items, answers each with its double, and can be held."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, key: str, batch: list[tuple[int, asyncio.Future[int]]]) -> None:
        self.calls.append((key, [item for item, _ in batch]))
        await self.gate.wait()
        for item, future in batch:
            future.set_result(item * 2)


async def test_a_lone_request_goes_at_once_with_its_own_answer() -> None:
    rec = Recorder()
    group: GroupCommit[str, int, int] = GroupCommit(rec.send)
    assert await group.submit("a", 21) == 42
    assert rec.calls == [("a", [21])]


async def test_requests_arriving_during_a_call_go_together_in_the_next() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, int, int] = GroupCommit(rec.send)
    first = asyncio.create_task(group.submit("a", 1))
    await settle()
    rest = [asyncio.create_task(group.submit("a", n)) for n in (2, 3, 4)]
    await settle()
    assert rec.calls == [("a", [1])], "one call in flight per key by default"
    rec.gate.set()
    assert await asyncio.gather(first, *rest) == [2, 4, 6, 8]
    assert rec.calls == [("a", [1]), ("a", [2, 3, 4])]


async def test_keys_do_not_wait_for_each_other() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, int, int] = GroupCommit(rec.send)
    tasks = [asyncio.create_task(group.submit(k, 1)) for k in ("a", "b")]
    await settle()
    assert sorted(rec.calls) == [("a", [1]), ("b", [1])]
    rec.gate.set()
    assert await asyncio.gather(*tasks) == [2, 2]


async def test_batch_cap_and_calls_in_flight() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, int, int] = GroupCommit(rec.send, max_batch=2, max_in_flight=2)
    tasks = [asyncio.create_task(group.submit("a", n)) for n in range(5)]
    await settle()
    assert len(rec.calls) == 2, "two calls may be in flight for one key"
    rec.gate.set()
    assert await asyncio.gather(*tasks) == [0, 2, 4, 6, 8]
    assert all(len(items) <= 2 for _, items in rec.calls)
    assert sorted(i for _, items in rec.calls for i in items) == [0, 1, 2, 3, 4]


async def test_an_idle_key_leaves_no_lane_behind() -> None:
    rec = Recorder()
    group: GroupCommit[str, int, int] = GroupCommit(rec.send)
    await group.submit("a", 1)
    await group.close()
    assert group._lanes == {}
