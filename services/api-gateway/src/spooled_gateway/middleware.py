"""Pure-ASGI middleware: request ids, API version, security headers, body size cap.

Written as raw ASGI rather than BaseHTTPMiddleware: it sits on every request,
including streaming ones, and must not buffer bodies or add a task per call.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spooled_gateway import metrics

_SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"1; mode=block"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"permissions-policy", b"accelerometer=(), camera=(), geolocation=(), microphone=()"),
]
#: The console at /dashboard runs its own scripts and styles and talks to this
#: origin (REST and SSE); everything else keeps ``default-src 'none'``.
_CONSOLE_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
_CONSOLE_HEADERS = [
    (name, _CONSOLE_CSP if name == b"content-security-policy" else value)
    for name, value in _SECURITY_HEADERS
]
_VERSION_RE = re.compile(r"^[A-Za-z0-9.]{1,16}$")
SUPPORTED_API_VERSIONS = {"1"}


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    raw = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id") or str(uuid.uuid4()).encode()
        extra = [(b"x-request-id", request_id[:128]), *_security_headers(scope["path"])]
        if scope["path"].startswith("/api/v1"):
            extra.append((b"x-api-version", b"1"))
            version = headers.get(b"x-api-version", b"1").decode("latin-1")
            if _VERSION_RE.match(version) and version not in SUPPORTED_API_VERSIONS:
                await _send_json(
                    send,
                    400,
                    {
                        "code": "BAD_REQUEST",
                        "message": f"Unsupported API version: {version}. Supported versions: 1",
                    },
                    extra,
                )
                return

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_json(send, 413, _too_large(self.max_body_bytes), extra)
            return

        received = 0
        too_large = False

        async def capped_receive() -> Message:
            nonlocal received, too_large
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return msg

        started = False
        t0 = time.perf_counter()

        async def send_with_headers(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg["headers"] = [*msg.get("headers", []), *extra]
                metrics.observe(scope["method"], msg["status"], time.perf_counter() - t0)
            await send(msg)

        try:
            await self.app(scope, capped_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, _too_large(self.max_body_bytes), extra)
        except Exception:
            if too_large and not started:
                await _send_json(send, 413, _too_large(self.max_body_bytes), extra)
            else:
                raise


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    console = path == "/dashboard" or path.startswith("/dashboard/")
    return _CONSOLE_HEADERS if console else _SECURITY_HEADERS


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "code": "PAYLOAD_TOO_LARGE",
        "message": f"Request body exceeds the maximum of {limit} bytes",
    }
