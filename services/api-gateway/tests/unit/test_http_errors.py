"""The REST error handlers: a database outage that escaped the DB edge is a 503, never a 500."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from spooled_gateway import http_errors


def _app(exc: BaseException) -> FastAPI:
    app = FastAPI()
    http_errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return app


async def _get(exc: BaseException) -> httpx.Response:
    # Starlette re-raises unhandled exceptions after its handler answered; the answer is
    # what a client sees.
    transport = httpx.ASGITransport(app=_app(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.get("/boom")


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_database_outage_is_503_with_retry_after(exc: BaseException) -> None:
    resp = await _get(exc)
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["code"] == "SERVICE_UNAVAILABLE"


async def test_a_bug_is_a_500_without_detail() -> None:
    resp = await _get(RuntimeError("secret detail"))
    assert resp.status_code == 500
    assert resp.json() == {"code": "INTERNAL_ERROR", "message": "An internal error occurred."}
