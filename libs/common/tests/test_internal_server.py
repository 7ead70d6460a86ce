"""rpc.internal_server on loopback, reached through rpc.InternalClient as services reach peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health
from spooled_common import errors, rpc

TOKEN = "internal-token-for-tests"
SERVICE = "test.Echo"


class Echo:
    async def say(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request


def add_echo(echo: Echo, server: grpc.aio.Server) -> None:
    handlers = {"Say": grpc.unary_unary_rpc_method_handler(echo.say)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def echo_stub(channel: grpc.aio.Channel) -> Any:
    return SimpleNamespace(Say=channel.unary_unary(f"/{SERVICE}/Say"))


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, health.HealthServicer]]:
    server, health_servicer = rpc.internal_server(add_echo, Echo(), TOKEN, SERVICE)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", health_servicer
    finally:
        await server.stop(None)


async def test_health_is_serving_and_follows_the_returned_servicer(
    served: tuple[str, health.HealthServicer],
) -> None:
    addr, health_servicer = served
    # No token: health checks come from probes and load balancers.
    client = rpc.InternalClient(addr, "", echo_stub)
    try:
        assert await client.serving()
        health_servicer.enter_graceful_shutdown()
        assert not await client.serving()
    finally:
        await client.close()


async def test_a_call_with_the_token_is_answered(served: tuple[str, health.HealthServicer]) -> None:
    client = rpc.InternalClient(served[0], TOKEN, echo_stub, timeout=5.0)
    try:
        assert client.default_timeout == 5.0
        assert await client.call(None, "Say", b"hi") == b"hi"
    finally:
        await client.close()


async def test_a_call_without_the_token_is_refused(
    served: tuple[str, health.HealthServicer],
) -> None:
    async with rpc.internal_channel(served[0]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await echo_stub(channel).Say(b"hi")
    assert exc.value.code() is grpc.StatusCode.UNAUTHENTICATED

    client = rpc.InternalClient(served[0], "not-the-token", echo_stub)
    try:
        with pytest.raises(errors.AppError):
            await client.call(None, "Say", b"hi")
    finally:
        await client.close()


async def test_messages_beyond_grpcs_4_mib_default_get_through(
    served: tuple[str, health.HealthServicer],
) -> None:
    big = b"x" * (6 * 1024 * 1024)
    client = rpc.InternalClient(served[0], TOKEN, echo_stub)
    try:
        assert await client.call(None, "Say", big) == big
    finally:
        await client.close()
