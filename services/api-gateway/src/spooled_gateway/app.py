"""The gateway's FastAPI application: wiring only; routes live in ``routes/``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from spooled_common import db

from spooled_gateway import http_errors, middleware
from spooled_gateway.core_client import CoreClient
from spooled_gateway.responses import OrjsonResponse
from spooled_gateway.routes import (
    admin,
    api_keys,
    auth,
    dlq,
    health,
    jobs,
    organizations,
    queues,
    realtime_proxy,
    schedules,
    workers,
)
from spooled_gateway.scheduler_client import SchedulerClient
from spooled_gateway.settings import GatewaySettings

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
        app.state.scheduler = SchedulerClient(settings.scheduler_addr, settings.internal_token)
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
            await app.state.core.close()
            await app.state.scheduler.close()
            await app.state.db.close()

    app = FastAPI(
        title="Spooled API",
        version="1.0.0",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    http_errors.install(app)
    app.add_middleware(middleware.EdgeMiddleware, max_body_bytes=settings.max_body_bytes)

    app.include_router(health.router)
    for module in (auth, organizations, api_keys, admin, jobs, dlq, queues, workers):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(schedules.router, prefix=API_PREFIX)
    app.include_router(realtime_proxy.router, prefix=API_PREFIX)
    return app
