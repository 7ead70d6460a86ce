"""Token buckets in process: refill, burst, all-or-nothing over several buckets, headers."""

from __future__ import annotations

import asyncio

import pytest
from spooled_common import errors
from spooled_gateway.ratelimit.buckets import Decision, LocalBuckets, Rule, decide
from spooled_gateway.ratelimit.limiter import InflightGate, Limiter, rate_limited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock=clock)
    rule = Rule("k", rate=5, burst=10)
    assert [buckets.take([rule]).allowed for _ in range(11)] == [True] * 10 + [False]
    refused = buckets.take([rule])
    assert refused.retry_after == pytest.approx(0.2) and refused.remaining == 0
    clock.now += 0.2
    assert buckets.take([rule]).allowed
    assert not buckets.take([rule]).allowed
    clock.now += 100
    full = buckets.take([rule])
    assert full.remaining == 9 and full.limit == 10


def test_all_or_nothing_across_buckets() -> None:
    buckets = LocalBuckets(clock=Clock())
    plan, own = Rule("plan", 100, 100), Rule("own", 1, 2)
    assert buckets.take([plan, own]).allowed
    assert buckets.take([plan, own]).allowed
    refused = buckets.take([plan, own])
    assert not refused.allowed and refused.limit == 2  # the key's own bucket refused
    # The refused request took nothing from the plan bucket.
    assert buckets.take([plan]).remaining == 97


def test_headers() -> None:
    d = Decision(True, 10, 7, 0.6, 0.0, scope="api_key")
    assert d.headers(now=100.0) == [
        (b"x-ratelimit-limit", b"10"),
        (b"x-ratelimit-remaining", b"7"),
        (b"x-ratelimit-reset", b"101"),
        (b"x-ratelimit-scope", b"api_key"),
    ]


def test_the_429_body_and_retry_after() -> None:
    err = rate_limited(decide([Rule("k", 5, 10)], [0.5], allowed=False))
    assert err.status == 429 and err.code == "RATE_LIMIT_EXCEEDED"
    assert err.headers == {"Retry-After": "1"}
    body = err.body()
    assert body["retry_after_secs"] == 1 and body["limit"] == 10 and body["remaining"] == 0
    assert body["details"] == {"retry_after_seconds": 1}


async def test_limiter_without_redis_is_per_replica() -> None:
    limiter = Limiter("")
    assert not limiter.configured and not limiter.shared
    assert await limiter.redis_ok() is None
    d = await limiter.take([Rule("x", 1, 1)], "ip")
    assert d.allowed and d.scope == "ip" and not d.shared


async def test_inflight_gate_queues_then_refuses() -> None:
    gate = InflightGate(per_org=2, wait_s=0.2)
    a, b = await gate.enter("org"), await gate.enter("org")
    other = await gate.enter("other-org")  # never waits behind "org"
    waiter = asyncio.create_task(gate.enter("org"))
    await asyncio.sleep(0.05)
    a.release()
    c = await waiter  # got a's slot
    with pytest.raises(errors.RateLimited) as info:
        await gate.enter("org")
    assert info.value.headers["Retry-After"] == "1"
    for slot in (b, c, other):
        slot.release()
        slot.release()  # idempotent
    assert gate.in_flight("org") == 0


async def test_inflight_gate_without_waiting_refuses_at_once() -> None:
    gate = InflightGate(per_org=1, wait_s=0)
    slot = await gate.enter("org")
    with pytest.raises(errors.RateLimited):
        await asyncio.wait_for(gate.enter("org"), 1)
    slot.release()
    (await gate.enter("org")).release()
