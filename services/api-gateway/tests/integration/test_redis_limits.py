"""Rate-limit buckets shared through a real Redis, and what happens when Redis goes away."""

from __future__ import annotations

import uuid

import pytest
from spooled_gateway.ratelimit.buckets import Rule
from spooled_gateway.ratelimit.limiter import Limiter
from spooled_testing.redis import RedisServer


def rule(burst: int = 5, rate: float = 0.001) -> Rule:
    return Rule(f"spooled:rl:{{k:{uuid.uuid4()}}}:plan", rate, burst)


async def test_two_limiters_share_one_bucket(redis_server: RedisServer) -> None:
    a, b = Limiter(redis_server.url), Limiter(redis_server.url)
    try:
        r = rule(burst=6)
        outcomes = []
        for _ in range(5):
            outcomes.append((await a.take([r], "api_key")).allowed)
            outcomes.append((await b.take([r], "api_key")).allowed)
        assert outcomes.count(True) == 6
        refused = await a.take([r], "api_key")
        assert not refused.allowed and refused.shared and refused.retry_after > 0
    finally:
        await a.close()
        await b.close()


async def test_multi_bucket_take_is_atomic_in_redis(redis_server: RedisServer) -> None:
    limiter = Limiter(redis_server.url)
    try:
        plan, own = rule(burst=100), rule(burst=1)
        assert (await limiter.take([plan, own], "api_key")).allowed
        assert not (await limiter.take([plan, own], "api_key")).allowed
        assert (await limiter.take([plan], "api_key")).remaining == 98
    finally:
        await limiter.close()


async def test_redis_down_falls_back_to_this_replica_then_recovers(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spooled_gateway.ratelimit import limiter as limiter_mod

    server = RedisServer(tmp_path_factory.mktemp("redis-flap")).start()
    limiter = Limiter(server.url)
    try:
        r = rule(burst=3)
        assert (await limiter.take([r], "api_key")).shared
        server.stop()
        # No error reaches the caller; the replica's own bucket (full) answers.
        local = [await limiter.take([r], "api_key") for _ in range(4)]
        assert [d.allowed for d in local] == [True, True, True, False]
        assert not any(d.shared for d in local)
        assert await limiter.redis_ok() is False
        server.start()
        monkeypatch.setattr(limiter_mod, "RETRY_AFTER_FAILURE_S", 0.0)
        limiter._down_until = 0.0
        again = await limiter.take([r], "api_key")
        assert again.shared
    finally:
        await limiter.close()
        server.stop()
