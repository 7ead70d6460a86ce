"""A database outage is a 503 with Retry-After (gRPC UNAVAILABLE), never a 500 / INTERNAL.

The driver raises many shapes of "the database is not there": a refused or lost
connection, a server shutting down (57P01 on every restart), starting up, out of
connection slots. Each must reach clients as retryable; anything else keeps its meaning.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import pytest
from spooled_common import db, errors, rpc

OUTAGES = [
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.ConnectionFailureError("connection failure"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("connection is closed"),
    # Seen on release after Postgres restarted under load (tests/chaos).
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
]
NOT_OUTAGES = [
    asyncpg.UndefinedTableError('relation "core.nope" does not exist'),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
async def test_translate_errors_makes_an_outage_a_503(exc: BaseException) -> None:
    with pytest.raises(errors.ServiceUnavailable) as info:
        async with db.translate_errors():
            raise exc
    assert info.value.status == 503 and info.value.headers == {"Retry-After": "1"}
    assert info.value.grpc_code == grpc.StatusCode.UNAVAILABLE
    assert info.value.__cause__ is exc


@pytest.mark.parametrize("exc", NOT_OUTAGES, ids=lambda e: type(e).__name__)
async def test_other_errors_are_not_hidden_as_outages(exc: BaseException) -> None:
    assert db.unavailable(exc) is None
    with pytest.raises(type(exc)):
        async with db.translate_errors():
            raise exc


class _Context:
    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.trailers: Any = ()

    def set_trailing_metadata(self, trailers: Any) -> None:
        self.trailers = trailers

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        raise grpc.aio.AbortError()


class _Servicer:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    @rpc.handle_errors
    async def Call(self, request: Any, context: Any) -> None:
        raise self.exc


async def test_handle_errors_turns_an_escaped_outage_into_unavailable() -> None:
    ctx = _Context()
    with pytest.raises(grpc.aio.AbortError):
        await _Servicer(OUTAGES[0]).Call(None, ctx)
    assert ctx.code == grpc.StatusCode.UNAVAILABLE
    [(key, raw)] = ctx.trailers
    assert key == errors.ERROR_TRAILER
    back = errors.decode(raw)
    assert isinstance(back, errors.ServiceUnavailable) and back.headers == {"Retry-After": "1"}


async def test_handle_errors_keeps_a_bug_internal() -> None:
    ctx = _Context()
    with pytest.raises(grpc.aio.AbortError):
        await _Servicer(RuntimeError("a bug")).Call(None, ctx)
    assert ctx.code == grpc.StatusCode.INTERNAL
