"""SSE framing and WebSocket commands (both casings)."""

from __future__ import annotations

import orjson
import pytest
from spooled_common.tenant import Tenant
from spooled_realtime import envelope as env
from spooled_realtime.filters import Filter, Subscription
from spooled_realtime.sse import frame, reconnect_frame
from spooled_realtime.ws import handle_command


def test_frame_has_id_event_and_data() -> None:
    raw = frame(env.status_change("j", "q", "pending", "processing", "T"), seq=42)
    lines = raw.decode().split("\n")
    assert lines[0] == "id: 42"
    assert lines[1] == "event: job.status"
    assert orjson.loads(lines[2].removeprefix("data: "))["type"] == "JobStatusChange"
    assert raw.endswith(b"\n\n")


def test_reconnect_hint() -> None:
    assert b"event: reconnect" in reconnect_frame("max connection lifetime")


class Sent(list[env.Envelope]):
    async def __call__(self, e: env.Envelope) -> None:
        self.append(e)


@pytest.mark.parametrize("cmd", ["Subscribe", "subscribe", "SUBSCRIBE"])
async def test_subscribe_in_any_casing(cmd: str) -> None:
    flt, sent = Filter(Tenant("o")), Sent()
    await handle_command(orjson.dumps({"cmd": cmd, "queue": "emails"}).decode(), flt, sent)
    assert flt.subscriptions == {Subscription("emails", None)}
    await handle_command('{"cmd": "Unsubscribe", "queue": "emails"}', flt, sent)
    assert flt.subscriptions == set()


@pytest.mark.parametrize("cmd", ["Ping", "ping"])
async def test_ping_answers_ping(cmd: str) -> None:
    sent = Sent()
    await handle_command(orjson.dumps({"cmd": cmd}).decode(), Filter(Tenant("o")), sent)
    assert [e.type for e in sent] == ["Ping"]


async def test_subscribe_outside_scope_sends_an_error() -> None:
    flt, sent = Filter(Tenant("o", frozenset({"a"}))), Sent()
    await handle_command('{"cmd": "subscribe", "queue": "b"}', flt, sent)
    assert [e.type for e in sent] == ["Error"]
    assert flt.subscriptions == set()


@pytest.mark.parametrize("text", ["nope", "[]", '{"cmd": "Dance"}', "{}"])
async def test_unknown_commands_are_ignored(text: str) -> None:
    sent = Sent()
    await handle_command(text, Filter(Tenant("o")), sent)
    assert sent == []
