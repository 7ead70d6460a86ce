"""Root health endpoints: liveness never depends on anything; readiness does."""

from __future__ import annotations

from typing import Any

import httpx


async def test_health_and_liveness(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "healthy", "database": True, "cache": True}
    assert (await gateway.get("/health/live")).status_code == 200


async def test_ready_is_503_while_queue_core_is_down(gateway: httpx.AsyncClient) -> None:
    for path in ("/health/ready", "/ready"):
        resp = await gateway.get(path)
        assert resp.status_code == 503
        assert resp.json() == {"status": "not_ready", "database": True, "queue_core": False}


async def test_ready_with_queue_core(
    gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any, fake_core: Any
) -> None:
    addr, _ = fake_core
    async with make_gateway_client(make_gateway_settings(gateway_dsn, QUEUE_CORE_ADDR=addr)) as gw:
        for path in ("/health/ready", "/ready"):
            resp = await gw.get(path)
            assert resp.status_code == 200, resp.text
            assert resp.json()["queue_core"] is True


async def test_database_down_is_degraded(gateway: httpx.AsyncClient) -> None:
    # Closing the pool stands in for a lost database from the app's point of view.
    pool = gateway.app.state.db  # type: ignore[attr-defined]
    await pool.close()
    resp = await gateway.get("/health")
    assert resp.json() == {"status": "degraded", "database": False, "cache": True}
    assert (await gateway.get("/health/ready")).status_code == 503
    assert (await gateway.get("/health/live")).status_code == 200


async def test_metrics_counts_requests_with_upstream_names(gateway: httpx.AsyncClient) -> None:
    def count(text: str) -> float:
        for line in text.splitlines():
            if line.startswith('spooled_api_requests_total{method="GET",status="2xx"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    await gateway.get("/health/live")
    before = (await gateway.get("/metrics")).text
    await gateway.get("/health/live")
    after = await gateway.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    assert "spooled_api_request_duration_seconds_bucket" in after.text
    # The first scrape and the second /health/live were counted in between.
    assert count(after.text) >= count(before) + 2
