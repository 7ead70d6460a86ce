"""ASGI middleware: per-IP limits for unauthenticated calls, X-RateLimit-* on every answer.

Authenticated requests are limited by the auth dependency (``admit``), which
knows the API key; this middleware only prepares a per-request holder,
limits requests that carry no ``Authorization`` header by client IP (and
charges the IP for a credential that failed to authenticate), adds the
headers of whichever decision was made, and frees the organization's
in-flight slot as soon as the response starts (a streaming response no
longer holds it).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spooled_gateway.auth import throttle
from spooled_gateway.ratelimit import STATE_KEY, RequestLimits
from spooled_gateway.ratelimit.buckets import Decision, Rule
from spooled_gateway.ratelimit.limiter import rate_limited

#: Only the API is limited; probes, metrics, docs and the console never are.
LIMITED_PREFIX = "/api/"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        holder = RequestLimits()
        scope.setdefault("state", {})[STATE_KEY] = holder
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])
        if not authenticated and await self._refuse_ip(scope, send, holder):
            return

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                holder.release()
                if holder.decision is None and msg["status"] == 401:
                    # A credential that did not authenticate costs its sender's IP
                    # a token: guessing keys is limited like any anonymous call.
                    holder.decision = await self._take_ip(scope)
                if holder.decision is not None:
                    msg["headers"] = [*msg.get("headers", []), *holder.decision.headers()]
            await send(msg)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            holder.release()

    @staticmethod
    async def _take_ip(scope: Scope) -> Decision:
        app: Any = scope["app"]
        settings = app.state.settings
        ip = throttle.client_ip(Request(scope))
        rule = Rule(
            f"spooled:rl:{{ip:{ip}}}", settings.public_rate_per_second, settings.public_burst
        )
        decision: Decision = await app.state.limiter.take([rule], "ip")
        return decision

    async def _refuse_ip(self, scope: Scope, send: Send, holder: RequestLimits) -> bool:
        holder.decision = await self._take_ip(scope)
        if holder.decision.allowed:
            return False
        err = rate_limited(holder.decision)
        body = orjson.dumps(err.body())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in err.headers.items()),
            *holder.decision.headers(),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
