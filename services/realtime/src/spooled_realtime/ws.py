"""WebSocket ``/api/v1/ws`` (API.md §12.2).

Server → client: text frames holding envelopes; a ``Ping`` right after the
upgrade and every ``REALTIME_WS_PING_INTERVAL_SECS``. Client → server: JSON
commands ``{"cmd": "Subscribe"|"Unsubscribe"|"Ping", "queue"?, "job_id"?}`` in
any casing (upstream sends PascalCase, the official SDK lower-case); anything
else is ignored. A refused upgrade answers with the HTTP error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from spooled_common import errors
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from spooled_realtime import envelope as env
from spooled_realtime.filters import Filter
from spooled_realtime.hub import Closed, Subscriber
from spooled_realtime.runtime import Runtime

log = logging.getLogger(__name__)

#: Close codes: the service is going away; the client was too slow to keep up.
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013

Send = Callable[[env.Envelope], Awaitable[None]]


async def deny(ws: WebSocket, err: errors.AppError) -> None:
    """Refuse the upgrade with a real HTTP status when the server supports it."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse(err.body(), status_code=err.status))
    else:
        await ws.close(code=1008, reason=err.message[:120])


async def websocket_endpoint(ws: WebSocket) -> None:
    rt: Runtime = ws.app.state.rt
    try:
        tenant = rt.authenticate(ws.headers)
        flt = Filter.from_query(tenant, ws.query_params)
        rt.limiter.check(tenant.org_id, "WebSocket")
    except errors.AppError as err:
        await deny(ws, err)
        return
    await ws.accept()
    org = tenant.org_id
    sub = rt.hub.register(org)
    rt.limiter.add(org, "ws")
    lock = asyncio.Lock()

    async def send(envelope: env.Envelope) -> None:
        async with lock:
            await ws.send_text(envelope.to_json().decode())

    try:
        await send(env.ping())
        tasks = {
            asyncio.create_task(_read(ws, flt, send), name="ws-read"),
            asyncio.create_task(_write(rt, ws, sub, flt, send), name="ws-write"),
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                log.warning("websocket ended with %s: %s", type(exc).__name__, exc)
    except WebSocketDisconnect:
        pass
    finally:
        rt.hub.unregister(sub)
        rt.limiter.remove(org, "ws")


async def _write(rt: Runtime, ws: WebSocket, sub: Subscriber, flt: Filter, send: Send) -> None:
    while True:
        try:
            event = await sub.next(rt.settings.ws_ping_interval_secs)
        except Closed as exc:
            code = GOING_AWAY if rt.closing.is_set() else TRY_AGAIN_LATER
            with contextlib.suppress(Exception):
                await ws.close(code=code, reason=str(exc))
            return
        if event is None:
            await send(env.ping())
            continue
        for e in flt.envelopes(event):
            rt.sent()
            await send(e)


async def _read(ws: WebSocket, flt: Filter, send: Send) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", "replace")
        if text:
            await handle_command(text, flt, send)


async def handle_command(text: str, flt: Filter, send: Send) -> None:
    """Apply one client command; malformed or unknown ones are ignored (upstream)."""
    try:
        doc: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    if not isinstance(doc, dict):
        return
    cmd = str(doc.get("cmd") or doc.get("type") or "").lower()
    queue = doc.get("queue") if isinstance(doc.get("queue"), str) and doc.get("queue") else None
    job_id = doc.get("job_id") if isinstance(doc.get("job_id"), str) and doc.get("job_id") else None
    if cmd == "ping":
        await send(env.ping())
    elif cmd == "subscribe":
        try:
            flt.subscribe(queue, job_id)
        except errors.AppError as err:
            await send(env.error(err.message))
    elif cmd == "unsubscribe":
        flt.unsubscribe(queue, job_id)
