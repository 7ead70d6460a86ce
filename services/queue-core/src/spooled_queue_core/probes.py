"""The small HTTP side: ``/health`` (liveness), ``/ready`` (readiness), ``/metrics``.

Served by uvicorn inside the service's own event loop, next to gRPC; the
process installs its own signal handlers, so uvicorn's are switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ReadyCheck = Callable[[], Awaitable[bool]]
#: Run before each scrape: refreshes what collectors cannot read synchronously.
BeforeScrape = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def create_app(ready_check: ReadyCheck, before_scrape: BeforeScrape = _nothing) -> Starlette:
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        if await ready_check():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    async def metrics(_: Request) -> Response:
        await before_scrape()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics),
        ]
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Shutdown is driven by the service (SIGTERM → drain gRPC, then us).
        yield


class ProbeServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", access_log=False, log_config=None
        )
        self._server = _Server(self._config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._config.host, self._config.port))
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="probes")
        while not self._server.started:
            if self._task.done():
                await self._task  # surfaces the startup error
                raise RuntimeError("probe server exited during startup")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
