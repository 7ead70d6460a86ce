"""The gateway's FastAPI application: wiring only; routes live in ``routes/``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

from fastapi import FastAPI
from spooled_common import db
from spooled_common.tracing import http_server as tracing_http

from spooled_gateway import http_errors, middleware, openapi, ratelimit
from spooled_gateway.billing_client import BillingClient
from spooled_gateway.completions import CompletionBatcher
from spooled_gateway.console import routes as console
from spooled_gateway.core_client import CoreClient
from spooled_gateway.ratelimit.middleware import RateLimitMiddleware
from spooled_gateway.responses import OrjsonResponse
from spooled_gateway.routes import (
    admin,
    api_keys,
    auth,
    billing,
    dashboard,
    diagnose,
    dlq,
    health,
    incoming_webhooks,
    jobs,
    organizations,
    outgoing_webhooks,
    queues,
    realtime_proxy,
    schedules,
    workers,
    workflows,
)
from spooled_gateway.scheduler_client import SchedulerClient
from spooled_gateway.settings import GatewaySettings
from spooled_gateway.webhooks_client import WebhooksClient

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(settings: GatewaySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = await db.create_pool(
            settings.database_url,
            min_size=settings.database_min_connections,
            max_size=settings.database_max_connections,
        )
        app.state.core = CoreClient(settings.queue_core_addr, settings.internal_token)
        # Group commit of completions (REST, unary gRPC and ProcessJobs alike).
        app.state.completions = CompletionBatcher(app.state.core)
        app.state.scheduler = SchedulerClient(settings.scheduler_addr, settings.internal_token)
        app.state.webhooks = WebhooksClient(settings.webhooks_addr, settings.internal_token)
        app.state.billing = BillingClient(settings.billing_addr, settings.internal_token)
        grpc_server = None
        if settings.grpc_port:
            from spooled_gateway.grpc_public.server import start_public_grpc

            grpc_server = await start_public_grpc(app, settings)
        try:
            yield
        finally:
            if grpc_server is not None:
                # Let in-flight worker calls settle before the channel closes.
                await grpc_server.stop(grace=5)
            await app.state.completions.close()
            await app.state.core.close()
            await app.state.scheduler.close()
            await app.state.webhooks.close()
            await app.state.billing.close()
            await app.state.limiter.close()
            await app.state.db.close()

    app = FastAPI(
        title="Spooled API",
        version="1.0.0",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        # A server span per request while tracing is on (FastAPI's own, see tracing_http).
        telemetry=cast("TelemetryConfig", tracing_http.fastapi_telemetry()),
    )
    app.state.settings = settings
    # Rate limits (Redis-shared when REDIS_URL is set) and per-org concurrency.
    app.state.limiter = ratelimit.Limiter(settings.redis_url)
    app.state.inflight = ratelimit.InflightGate(
        settings.org_max_inflight, settings.org_inflight_wait_secs
    )
    http_errors.install(app)
    openapi.install(app)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(middleware.EdgeMiddleware, max_body_bytes=settings.max_body_bytes)

    app.include_router(health.router)
    # Routes are matched in order: the job and worker hot path first, so the
    # busiest requests do not test every other route's pattern before theirs.
    for module in (jobs, dlq, workers, queues, auth, organizations, api_keys, admin):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(schedules.router, prefix=API_PREFIX)
    app.include_router(workflows.router, prefix=API_PREFIX)
    app.include_router(realtime_proxy.router, prefix=API_PREFIX)
    app.include_router(outgoing_webhooks.router, prefix=API_PREFIX)
    app.include_router(incoming_webhooks.router, prefix=API_PREFIX)
    # Operator views: job diagnosis, the dashboard summary and the /dashboard console.
    app.include_router(diagnose.router, prefix=API_PREFIX)
    app.include_router(dashboard.router, prefix=API_PREFIX)
    app.include_router(console.router)
    app.include_router(billing.router, prefix=API_PREFIX)
    return app
