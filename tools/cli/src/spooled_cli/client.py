"""The REST client of spooledctl: httpx plus errors that say what to do next."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
API = "/api/v1"


class CliError(Exception):
    """A failure to show the user: what happened, and what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConnectionProblem(CliError):
    exit_code = 3


class ApiError(CliError):
    def __init__(self, status: int, body: dict[str, Any], hint: str | None) -> None:
        code = body.get("code") or f"HTTP_{status}"
        super().__init__(f"{body.get('message') or 'Request failed'} ({status} {code})", hint)
        self.status = status
        self.code = code
        self.body = body


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str | None
    timeout: float = 30.0

    @classmethod
    def resolve(cls, url: str | None, api_key: str | None, timeout: float) -> Config:
        """Flags first, then ``SPOOLED_URL`` / ``SPOOLED_API_KEY``, then the local default."""
        return cls(
            url=(url or os.environ.get("SPOOLED_URL") or DEFAULT_URL).rstrip("/"),
            api_key=api_key or os.environ.get("SPOOLED_API_KEY") or None,
            timeout=timeout,
        )


def _hint(status: int, code: str, url: str) -> str | None:
    hints = {
        401: "Check the API key: pass --api-key or set SPOOLED_API_KEY (keys start with sp_).",
        403: "This API key does not cover that queue or action; use a key with access to it.",
        404: "Check the id or name (spooledctl jobs list / queues stats / schedules list).",
        413: "The document is too large for this plan; send a smaller payload.",
        429: "Slow down and retry shortly (or raise the plan's limits).",
        503: f"A Spooled service behind {url} is unavailable; retry in a moment.",
    }
    if code == "LEASE_EXPIRED":
        return "The worker's lease ended; the job was or will be handed out again."
    if status == 409:
        return "The job is not in a state that allows this; see `spooledctl jobs diagnose <id>`."
    return hints.get(status)


class Client:
    def __init__(self, config: Config) -> None:
        self.config = config
        headers = {"user-agent": "spooledctl/0.1"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.Client(
            base_url=config.url + API, headers=headers, timeout=config.timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_key(self) -> None:
        if not self.config.api_key:
            raise CliError(
                "No API key given.",
                "Pass --api-key or set SPOOLED_API_KEY (`make run` prints a bootstrap key).",
            )

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        self._require_key()
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise ConnectionProblem(
                f"Spooled at {self.config.url} did not answer in time ({exc.__class__.__name__}).",
                "Retry, or raise --timeout.",
            ) from None
        except httpx.TransportError as exc:
            raise ConnectionProblem(
                f"Cannot reach Spooled at {self.config.url}: {exc}",
                "Is it running (`make run`)? Point --url or SPOOLED_URL at the gateway.",
            ) from None
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def _error(self, resp: httpx.Response) -> ApiError:
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text.strip()[:300]}
        if not isinstance(body, dict):
            body = {"message": str(body)}
        code = str(body.get("code") or "")
        return ApiError(resp.status_code, body, _hint(resp.status_code, code, self.config.url))

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_clean(params)).json()

    def page(self, path: str, **params: Any) -> tuple[list[Any], bool]:
        """A list endpoint's page and whether more follow (``X-Has-More``)."""
        resp = self.request("GET", path, params=_clean(params))
        return resp.json(), resp.headers.get("x-has-more") == "true"

    def post(self, path: str, body: Any = None) -> Any:
        resp = (
            self.request("POST", path, json=body)
            if body is not None
            else self.request("POST", path)
        )
        return resp.json() if resp.content else None

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body).json()

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def stream(self, path: str, **params: Any) -> Iterator[tuple[str, str]]:
        """Server-sent events as (event name, data) until the server ends the stream."""
        self._require_key()
        timeout = httpx.Timeout(self.config.timeout, read=None)
        try:
            with self._http.stream("GET", path, params=_clean(params), timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                yield from parse_sse(resp.iter_lines())
        except httpx.TransportError as exc:
            raise ConnectionProblem(
                f"The event stream from {self.config.url} broke: {exc}",
                "Run `spooledctl tail` again; it resumes with live events.",
            ) from None


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Frames of an event stream: comments skipped, multi-line data joined."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != ""}
