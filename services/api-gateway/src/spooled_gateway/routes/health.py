"""Health at the root (no /api/v1): liveness, readiness, and a summary.

* ``/health/live`` — the process answers; never touches dependencies, so a
  database outage does not get every pod restarted.
* ``/health/ready`` (alias ``/ready``) — 503 unless the gateway database and
  queue-core both answer: take this pod out of the load balancer.
* ``/health`` — ``{status, database, cache}`` for humans and the SDK.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from spooled_gateway.core_client import CoreClient
from spooled_gateway.schemas import common
from spooled_gateway.schemas.health import Readiness

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

#: For uptime in /admin/stats: this module is imported at process start.
PROCESS_STARTED = time.monotonic()
#: A dependency that takes longer than this to answer a probe is "down".
PROBE_TIMEOUT_S = 2.0


async def database_ok(request: Request) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            async with request.app.state.db.acquire() as conn:
                return bool(await conn.fetchval("SELECT 1") == 1)
    except Exception as exc:  # any failure means "not healthy"; the reason goes to logs
        log.warning("health: database check failed: %s", exc)
        return False


async def queue_core_ok(core: CoreClient) -> bool:
    # grpc.health.v1 on queue-core's server (exempt from the internal token).
    try:
        return await core.serving(timeout=PROBE_TIMEOUT_S)
    except Exception as exc:
        log.warning("health: queue-core check failed: %s", exc)
        return False


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    database = await database_ok(request)
    # Redis is optional: without REDIS_URL the caches and rate-limit buckets
    # are in-process (up whenever the process is). With it, "cache" says
    # whether Redis answers; rate limits then fall back to per-replica
    # buckets, so a Redis outage degrades nothing else (status stays healthy).
    redis = await request.app.state.limiter.redis_ok()
    cache = True if redis is None else redis
    return {"status": "healthy" if database else "degraded", "database": database, "cache": cache}


@router.get("/health/live")
async def live() -> dict[str, Any]:
    return {"status": "alive"}


# The 503 carries the same body, not the error body every other failure has.
_READINESS = {
    **common.documented(Readiness, "Ready"),
    **common.documented(Readiness, "Not ready: a dependency does not answer", 503),
}


@router.get("/health/ready", responses=_READINESS)
@router.get("/ready", responses=_READINESS)
async def ready(request: Request) -> JSONResponse:
    database, core = await asyncio.gather(
        database_ok(request), queue_core_ok(request.app.state.core)
    )
    body = {
        "status": "ready" if database and core else "not_ready",
        "database": database,
        "queue_core": core,
    }
    return JSONResponse(body, status_code=200 if database and core else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_text() -> Response:
    """Prometheus exposition (unauthenticated on the main port, as upstream)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
