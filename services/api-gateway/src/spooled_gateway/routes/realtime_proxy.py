"""Realtime routes at the edge: authenticate, check scope, proxy to ``services/realtime``.

``/events``, ``/events/jobs/{id}``, ``/events/queues/{name}`` (SSE) and ``/ws``
(WebSocket) take the usual ``Authorization: Bearer <API key | JWT>`` and — on
these routes only — ``?token=`` / ``?api_key=`` (browsers' EventSource and
WebSocket cannot set headers). The realtime service is internal: it trusts
the identity forwarded here with the internal token (org id, key scope), the
same metadata internal gRPC carries. A queue filter outside the key's scope is
refused here with 403 before anything is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import websockets
from fastapi import APIRouter, FastAPI, Request, WebSocket
from spooled_common import errors, rpc
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from spooled_gateway.auth.authenticate import authenticate_access_token, authenticate_api_key
from spooled_gateway.auth.deps import JWT_MARKER, REALTIME_SCHEMES
from spooled_gateway.auth.principal import Principal
from spooled_gateway.schemas import common

log = logging.getLogger(__name__)

#: Query parameters that carry credentials; never forwarded.
CREDENTIAL_PARAMS = ("token", "api_key")
#: Close codes a peer may not send itself (1005/1006/1015) become these.
NORMAL, INTERNAL = 1000, 1011
_UNSENDABLE = {1005, 1006, 1015}


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Streams are long: no read timeout, the realtime side sends keep-alives.
    app.state.realtime_http = httpx.AsyncClient(
        base_url=app.state.settings.realtime_url,
        timeout=httpx.Timeout(10.0, read=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
    )
    try:
        yield
    finally:
        await app.state.realtime_http.aclose()


router = APIRouter(tags=["realtime"], lifespan=_lifespan)


# -- authentication ----------------------------------------------------------------
def credential(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """Bearer header first, then ``?token=`` / ``?api_key=`` (already percent-decoded)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for name in CREDENTIAL_PARAMS:
        value = (query.get(name) or "").strip()
        if value:
            return value
    raise errors.Unauthorized("Missing or invalid Authorization header")


async def authenticate(
    app: Any, headers: Mapping[str, str], query: Mapping[str, str], queue: str | None
) -> Principal:
    token = credential(headers, query)
    pool = app.state.db
    if token.startswith(JWT_MARKER):
        principal = await authenticate_access_token(pool, app.state.settings.jwt_secret, token)
    else:
        principal = await authenticate_api_key(pool, token)
    if queue and not principal.tenant.allows(queue):
        raise errors.AccessDenied("Queue is outside API key scope")
    return principal


def forward_headers(app: Any, principal: Principal, extra: Mapping[str, str]) -> dict[str, str]:
    fwd = dict(rpc.call_metadata(app.state.settings.internal_token, principal.tenant))
    for name in ("last-event-id", "x-request-id"):
        if extra.get(name):
            fwd[name] = extra[name]
    return fwd


def forward_query(query: Any) -> httpx.QueryParams:
    return httpx.QueryParams([(k, v) for k, v in query.multi_items() if k not in CREDENTIAL_PARAMS])


# -- SSE -----------------------------------------------------------------------------
#: How the stream routes are documented: credentials as above, and a text/event-stream body.
_SSE_ROUTE: dict[str, Any] = {
    "dependencies": REALTIME_SCHEMES,
    "response_class": StreamingResponse,
    "responses": {
        200: {
            "description": "Server-sent events until the client leaves",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
}


@router.get("/events", **_SSE_ROUTE)
async def events(request: Request) -> Response:
    """Live job and worker events of the caller's organization (filters: queue, job_id, events)."""
    principal = await _authenticate(request, request.query_params.get("queue"))
    return await _proxy_sse(request, principal, "/api/v1/events")


@router.get("/events/jobs/{job_id}", **_SSE_ROUTE)
async def job_events(job_id: str, request: Request) -> Response:
    """One job's status changes; ends after its terminal status."""
    principal = await _authenticate(request, None)
    job_id = common.path_id(job_id, "job_id")
    return await _proxy_sse(request, principal, f"/api/v1/events/jobs/{quote(job_id, safe='')}")


@router.get("/events/queues/{name}", **_SSE_ROUTE)
async def queue_events(name: str, request: Request) -> Response:
    """A queue's counters every few seconds."""
    principal = await _authenticate(request, None)
    name = common.path_queue_name(name)
    if not principal.tenant.allows(name):
        raise errors.AccessDenied("Queue is outside API key scope")
    return await _proxy_sse(request, principal, f"/api/v1/events/queues/{name}")


async def _authenticate(request: Request, queue: str | None) -> Principal:
    return await authenticate(request.app, request.headers, request.query_params, queue)


async def _proxy_sse(request: Request, principal: Principal, path: str) -> Response:
    """Relay the realtime stream at ``path``: built from validated, re-quoted parts, since
    the decoded request path may hold characters no URL can carry."""
    client: httpx.AsyncClient = request.app.state.realtime_http
    upstream_req = client.build_request(
        "GET",
        path,
        params=forward_query(request.query_params),
        headers={
            **forward_headers(request.app, principal, request.headers),
            "accept": "text/event-stream",
        },
    )
    try:
        upstream = await client.send(upstream_req, stream=True)
    except httpx.HTTPError as exc:
        log.warning("realtime unreachable: %s", exc)
        raise errors.ServiceUnavailable(
            "Realtime service unavailable; retry shortly", headers={"Retry-After": "1"}
        ) from None
    if upstream.status_code != 200:
        body = await upstream.aread()
        await upstream.aclose()
        return Response(
            body,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type", "application/json"),
        )
    return StreamingResponse(
        _relay_body(upstream),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _relay_body(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # The realtime side went away mid-stream: end ours too; the client reconnects.
        log.info("realtime stream ended: %s", exc)
    finally:
        await upstream.aclose()


# -- WebSocket -----------------------------------------------------------------------
@router.websocket("/ws")
async def ws_proxy(websocket: WebSocket) -> None:
    """Bidirectional proxy; both sides' closes (and codes) propagate."""
    app = websocket.app
    try:
        principal = await authenticate(
            app, websocket.headers, websocket.query_params, websocket.query_params.get("queue")
        )
        upstream = await _open_upstream(websocket, principal)
    except errors.AppError as err:
        await _deny(websocket, err.status, err.body(), err.headers)
        return
    except websockets.InvalidStatus as exc:
        body = _json_or_none(bytes(exc.response.body or b"")) or {
            "code": "ERROR",
            "message": "Refused",
        }
        await _deny(websocket, exc.response.status_code, body, {})
        return
    async with upstream:
        await websocket.accept()
        tasks = {
            asyncio.create_task(_client_to_upstream(websocket, upstream)),
            asyncio.create_task(_upstream_to_client(websocket, upstream)),
        }
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _open_upstream(websocket: WebSocket, principal: Principal) -> Any:
    base = websocket.app.state.settings.realtime_url.replace("http", "ws", 1)
    query = forward_query(websocket.query_params)
    url = f"{base}{websocket.url.path}" + (f"?{query}" if query else "")
    try:
        return await websockets.connect(
            url,
            additional_headers=forward_headers(websocket.app, principal, websocket.headers),
            open_timeout=10,
            max_size=2**22,
        )
    except websockets.InvalidStatus:
        raise
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        log.warning("realtime unreachable: %s", exc)
        raise errors.ServiceUnavailable("Realtime service unavailable; retry shortly") from None


async def _client_to_upstream(websocket: WebSocket, upstream: Any) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code") or NORMAL
                await upstream.close(code=NORMAL if code in _UNSENDABLE else code)
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    except (WebSocketDisconnect, websockets.ConnectionClosed):
        with contextlib.suppress(Exception):
            await upstream.close()


async def _upstream_to_client(websocket: WebSocket, upstream: Any) -> None:
    try:
        async for message in upstream:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
    except websockets.ConnectionClosed:
        pass
    code = upstream.close_code
    code = INTERNAL if code is None or code in _UNSENDABLE else code
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=(upstream.close_reason or "")[:120])


async def _deny(
    websocket: WebSocket, status: int, body: dict[str, Any], headers: Mapping[str, str]
) -> None:
    """Refuse the upgrade with the HTTP status and JSON error body when the server can."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse(body, status_code=status, headers=dict(headers) or None)
        )
    else:
        await websocket.close(code=1008, reason=str(body.get("message", ""))[:120])


def _json_or_none(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
