"""Per-API-key rate limits across gateway replicas, with and without Redis.

A second gateway process runs next to the suite's own, with the same settings
(same database, queue-core, billing and Redis), as a second replica would.

* with Redis, both replicas draw from ONE bucket per key: a burst of 10 is
  10 requests in total, whichever replica serves them;
* with Redis stopped, nothing fails: each replica enforces the plan on its
  own (up to 10 each), jobs are still created, and sharing resumes once
  Redis is back;
* gRPC calls draw from the same bucket (RESOURCE_EXHAUSTED + retry-after);
* login brute force: 5 failed attempts per minute per client IP, then 429.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from spooled.errors import QuotaExceededError, RateLimitError
from spooled.grpc import SpooledGrpcClient
from spooled_testing import reliability
from spooled_testing.postgres import free_port
from spooled_testing.stack import Service, Stack

from .conftest import API, Org, expect, unique, wait_for
from .test_limits import set_limits

BURST = 10


@dataclass
class Replica:
    base_url: str


@pytest.fixture(scope="module")
def second(stack: Stack) -> Iterator[Replica]:
    """Another gateway process: same settings as the suite's, its own ports."""
    first = stack.services["gateway"]
    port, grpc_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="spooled-gw2-"))
    svc = Service(
        "gateway-2",
        list(first.command),
        {
            **first.env,
            "PORT": str(port),
            "GRPC_PORT": str(grpc_port),
            # This replica believes X-Forwarded-For from loopback (the login test).
            "SPOOLED_TRUSTED_PROXIES": "127.0.0.1",
        },
        f"http://127.0.0.1:{port}/health/ready",
        logs / "gateway-2.log",
    )
    svc.start()
    try:
        svc.wait_ready(60)
        yield Replica(f"http://127.0.0.1:{port}")
    finally:
        svc.stop()
        shutil.rmtree(logs, ignore_errors=True)


def limited_org(make_org: object) -> Org:
    org: Org = make_org()  # type: ignore[operator]
    # 1 token per second, bursts of 10: a quick run of requests meets the burst.
    set_limits(org, rate_limit_requests_per_second=1, rate_limit_burst=BURST)
    return org


def alternate(org: Org, urls: list[str], n: int) -> list[int]:
    """``n`` quick requests with the org's key, round-robin over the replicas."""
    clients = [
        httpx.Client(base_url=u + API, headers={"Authorization": f"Bearer {org.api_key}"})
        for u in urls
    ]
    try:
        return [clients[i % len(clients)].get("/api-keys").status_code for i in range(n)]
    finally:
        for c in clients:
            c.close()


def test_replicas_share_one_bucket_through_redis(
    stack: Stack, second: Replica, make_org: object
) -> None:
    org = limited_org(make_org)
    codes = alternate(org, [stack.base_url, second.base_url], 3 * BURST)
    admitted = codes.count(200)
    # One bucket of 10 (plus at most a token or two refilled during the run), not 10 each.
    assert BURST <= admitted <= BURST + 2, codes
    assert set(codes) == {200, 429}
    assert 429 in codes[BURST + 2 :: 2] and 429 in codes[BURST + 3 :: 2]  # both replicas refuse


def test_refusal_carries_retry_after_and_headers(stack: Stack, make_org: object) -> None:
    org = limited_org(make_org)
    http = org.http()
    for _ in range(BURST):
        http.get("/api-keys")
    r = http.get("/api-keys")
    doc = expect(r, 429, "RATE_LIMIT_EXCEEDED")
    assert int(r.headers["retry-after"]) >= 1 and doc["retry_after_secs"] >= 1
    assert r.headers["x-ratelimit-limit"] == str(BURST)
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["x-ratelimit-scope"] == "api_key"
    assert int(r.headers["x-ratelimit-reset"]) >= int(time.time())


def test_sdk_reads_the_headers_and_raises_rate_limit_error(make_org: object) -> None:
    org = limited_org(make_org)
    client = org.client()
    client.api_keys.list()
    info = client.rate_limit
    assert info is not None and info.limit == BURST and info.remaining == BURST - 1
    assert info.scope == "api_key"
    with pytest.raises(RateLimitError) as err:
        for _ in range(BURST + 1):
            client.api_keys.list()
    assert type(err.value) is RateLimitError and err.value.retry_after >= 1


def test_grpc_shares_the_keys_bucket(stack: Stack, make_org: object) -> None:
    org = limited_org(make_org)
    g = SpooledGrpcClient(address=stack.grpc_address, api_key=org.api_key, timeout=15)
    try:
        assert g.wait_for_ready(10)
        with pytest.raises(RateLimitError) as err:
            for i in range(BURST + 2):
                g.queue.enqueue(unique("rl"), {"i": i})
        assert not isinstance(err.value, QuotaExceededError)
    finally:
        g.close()


def test_redis_down_limits_per_replica_and_nothing_else_breaks(
    stack: Stack, second: Replica, make_org: object
) -> None:
    assert stack.redis is not None, "the e2e stack runs its own Redis"
    org = limited_org(make_org)
    stack.redis.stop()
    try:
        codes = alternate(org, [stack.base_url, second.base_url], 4 * BURST)
        admitted = codes.count(200)
        # Each replica now enforces its own bucket of 10: about 20 in all, never unlimited.
        assert 2 * BURST <= admitted <= 2 * BURST + 4, codes
        assert codes[-4:].count(429) >= 3
        # Everything else keeps working: a fresh key enqueues and reads as usual.
        other = make_org()  # type: ignore[operator]
        client = other.client()
        job = client.jobs.create({"queue_name": unique("noredis"), "payload": {"ok": True}})
        assert client.jobs.get(job.id).status == "pending"
        health = httpx.get(f"{stack.base_url}/health", timeout=10)
        assert health.status_code == 200
        assert (health.json()["status"], health.json()["cache"]) == ("healthy", False)
    finally:
        stack.redis.start()

    # Back to one shared bucket once the replicas retry Redis (within ~5 s).
    def shared_again() -> bool:
        fresh = limited_org(make_org)
        codes = alternate(fresh, [stack.base_url, second.base_url], 3 * BURST)
        return codes.count(200) <= BURST + 2

    wait_for(shared_again, timeout=30, interval=2, desc="shared buckets after Redis returned")
    reliability.record(
        "dependency faults",
        "Redis stopped: rate limits across two gateway replicas",
        "each replica enforces the plan's burst on its own (never unlimited), jobs are still "
        "created and read, /health stays healthy with cache=false; one shared bucket again "
        "once Redis is back",
        f"{admitted} of {len(codes)} requests admitted over two replicas with a burst of "
        f"{BURST} each; enqueue and read worked; shared bucket restored",
        requests=len(codes),
        **{"5xx": sum(1 for c in codes if c >= 500)},
    )


def test_login_brute_force_is_five_per_minute_per_ip(second: Replica, org: Org) -> None:
    client_ip = f"198.51.100.{secrets.randbelow(250) + 1}"
    headers = {"X-Forwarded-For": client_ip}
    url = f"{second.base_url}{API}/auth/login"
    bad = {"api_key": "sp_test_" + "x" * 43}
    codes = [httpx.post(url, json=bad, headers=headers).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429], codes
    r = httpx.post(url, json={"api_key": org.api_key}, headers=headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another client address is unaffected.
    other = {
        "X-Forwarded-For": "198.51.100.251" if client_ip != "198.51.100.251" else "198.51.100.252"
    }
    assert httpx.post(url, json={"api_key": org.api_key}, headers=other).status_code == 200
