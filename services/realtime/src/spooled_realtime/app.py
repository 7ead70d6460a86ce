"""The realtime process: a Starlette app (SSE, WebSocket, probes) served by uvicorn.

``RealtimeServer.start()`` binds and serves inside the running loop (tests use
port 0); ``stop()`` first ends every stream so clients reconnect elsewhere,
then lets uvicorn drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from spooled_common import errors
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from spooled_realtime import sse, ws
from spooled_realtime.runtime import Runtime
from spooled_realtime.settings import RealtimeSettings

log = logging.getLogger(__name__)

API = "/api/v1"
#: Streams are told to end at shutdown; this bounds the drain of anything else.
GRACEFUL_SHUTDOWN_SECS = 5


def create_app(rt: Runtime) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await rt.hub.start()
        try:
            yield
        finally:
            rt.begin_shutdown()
            await rt.hub.stop()
            await rt.core.close()

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        if rt.hub.ready and not rt.closing.is_set():
            return JSONResponse({"status": "ready", "nats": True})
        return JSONResponse({"status": "unavailable", "nats": rt.hub.ready}, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def app_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.AppError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "ERROR")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics),
            Route(f"{API}/events", sse.events),
            Route(f"{API}/events/jobs/{{job_id}}", sse.job_events),
            Route(f"{API}/events/queues/{{name}}", sse.queue_events),
            WebSocketRoute(f"{API}/ws", ws.websocket_endpoint),
        ],
        lifespan=lifespan,
        exception_handlers={errors.AppError: app_error, HTTPException: http_error},
    )
    app.state.rt = rt
    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process owns SIGTERM (see __main__): streams end first, then uvicorn.
        yield


class RealtimeServer:
    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.rt = Runtime.create(settings)
        self._config = uvicorn.Config(
            create_app(self.rt),
            host=settings.host,
            port=settings.port,
            lifespan="on",
            access_log=False,
            log_config=None,
            ws="websockets-sansio",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECS,
        )
        self._server = _Server(self._config)
        self._task: asyncio.Task[None] | None = None
        self.port = settings.port

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._config.host, self._config.port))
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="realtime-http")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("realtime server exited during startup")
            await asyncio.sleep(0.01)
        log.info("realtime serving on :%d", self.port)
        return self.port

    async def stop(self) -> None:
        self.rt.begin_shutdown()
        self._server.should_exit = True
        if self._task is not None:
            await self._task
