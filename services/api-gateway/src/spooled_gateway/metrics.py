"""Gateway metrics, with the upstream names (API.md §16)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: Labelled by method and status class only: paths carry ids, unbounded cardinality.
API_REQUESTS = Counter("spooled_api_requests_total", "REST requests served", ["method", "status"])
API_DURATION = Histogram(
    "spooled_api_request_duration_seconds",
    "REST request latency",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe(method: str, status: int, seconds: float) -> None:
    API_REQUESTS.labels(method, f"{status // 100}xx").inc()
    API_DURATION.observe(seconds)
