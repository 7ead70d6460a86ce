"""A real HTTP webhook receiver for tests, plus independent signature checks.

:class:`WebhookReceiver` listens on ``127.0.0.1`` (an ephemeral port) in a
thread of the test process, records every request and answers from a script:
a list of statuses consumed in order (the last one repeats), optionally per
path. It works from sync tests (e2e) and async ones (the service's event loop
is never blocked by it).

The verification helpers re-implement both signature schemes from their
specifications rather than importing the service's code, so a test that uses
them checks the wire format, not the implementation against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    #: Header names lower-cased.
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'


class WebhookReceiver:
    """``with WebhookReceiver() as r: ... r.url("/hook") ... r.requests``."""

    def __init__(self, statuses: list[int | Reply] | None = None) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._default: list[Reply] = [self._reply(s) for s in (statuses or [200])]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    # -- scripting -----------------------------------------------------------------
    @staticmethod
    def _reply(s: int | Reply) -> Reply:
        return s if isinstance(s, Reply) else Reply(status=s)

    def script(self, path: str, statuses: list[int | Reply]) -> None:
        """Answers for ``path``, in order; the last one repeats."""
        with self._lock:
            self._scripts[path] = [self._reply(s) for s in statuses]

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            script = self._scripts.get(path, self._default)
            return script.pop(0) if len(script) > 1 else script[0]

    # -- reading -------------------------------------------------------------------
    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(
        self,
        predicate: Callable[[list[Received]], bool],
        timeout: float,
        desc: str = "requests",
    ) -> list[Received]:
        """Block until ``predicate(all requests so far)`` holds; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.0f}s waiting for {desc}; "
                        f"{len(self.requests)} request(s) received"
                    )
                self._cond.wait(min(left, 0.5))
            return list(self.requests)

    def wait_count(self, n: int, timeout: float, path: str | None = None) -> list[Received]:
        self.wait_for(
            lambda reqs: sum(1 for r in reqs if path is None or r.path == path) >= n,
            timeout,
            f"{n} request(s) on {path or 'any path'}",
        )
        return self.received(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                reply = receiver._next_reply(path)
                with receiver._cond:
                    receiver.requests.append(
                        Received(
                            path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.time(),
                        )
                    )
                    receiver._cond.notify_all()
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


# -- signature checks (from the specifications) --------------------------------------
def spooled_signature_ok(secret: str, r: Received) -> bool:
    """``X-Spooled-Signature: sha256=hex(HMAC-SHA256(secret, "<X-Spooled-Timestamp>.<body>"))``."""
    ts = r.headers.get("x-spooled-timestamp", "")
    expected = hmac.new(secret.encode(), ts.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(r.headers.get("x-spooled-signature", ""), "sha256=" + expected)


def whsec(secret: str) -> str:
    """The Standard Webhooks form of a plain secret (its bytes are the key)."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_signature_ok(whsec_secret: str, r: Received, tolerance: float = 300) -> bool:
    """Standard Webhooks: any ``v1,<base64 HMAC(key, "<id>.<ts>.<body>")>`` matches,
    with ``key`` = base64-decoded ``whsec_`` secret and the timestamp within tolerance."""
    key = base64.b64decode(whsec_secret.removeprefix("whsec_"))
    msg_id = r.headers.get("webhook-id", "")
    ts = r.headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + r.body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    for sig in r.headers.get("webhook-signature", "").split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False
