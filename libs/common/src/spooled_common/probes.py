"""HTTP probes every internal service serves: ``/health`` (alive), ``/ready`` (can
serve), ``/metrics`` (Prometheus).

uvicorn runs inside the service's event loop next to gRPC. The process owns
signal handling (SIGTERM drains gRPC and its own loops first), so uvicorn's
own handlers are disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ReadyCheck = Callable[[], Awaitable[dict[str, Any] | None]]


def create_app(ready_check: ReadyCheck) -> Starlette:
    """``ready_check`` returns details when ready, None when not."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        details = await ready_check()
        if details is None:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready", **details})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/health", health), Route("/ready", ready), Route("/metrics", metrics)]
    )


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ProbeServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._server = _QuietServer(
            uvicorn.Config(
                app, host=host, port=port, lifespan="off", access_log=False, log_config=None
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind (port 0 picks a free one) and serve; returns the bound port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="probes")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("probe server exited during startup")
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
