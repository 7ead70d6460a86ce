"""One HTTP POST of a webhook, reduced to an :class:`Outcome`.

Success is any 2xx. Redirects are not followed (a 3xx is a failure: the
endpoint's URL should be updated instead). The whole attempt, DNS included,
is bounded by the request timeout (10 s by default, 5 s to connect); the
stored response body is capped at 2048 characters and no more than that is
ever read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from spooled_webhooks.sending.backoff import parse_retry_after
from spooled_webhooks.sending.ssrf import DestinationGuard, GuardedTransport, Refused

#: Characters of the receiver's answer kept with the attempt.
RESPONSE_BODY_MAX_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    response_body: str | None
    error: str | None
    duration_secs: float
    #: Seconds the receiver's Retry-After asked for.
    retry_after: float | None = None
    #: The SSRF guard refused the destination: retrying will not help.
    refused: bool = False

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410: the receiver wants no more webhooks; the endpoint gets disabled."""
        return self.status_code == 410

    @property
    def duration_ms(self) -> int:
        return int(self.duration_secs * 1000)


class Sender:
    def __init__(
        self,
        guard: DestinationGuard,
        *,
        timeout_secs: float,
        connect_timeout_secs: float,
        max_connections: int,
    ) -> None:
        self.guard = guard
        self._timeout = timeout_secs
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(max_connections, 32),
            keepalive_expiry=30.0,
        )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(guard, limits=limits),
            timeout=httpx.Timeout(timeout_secs, connect=connect_timeout_secs),
            follow_redirects=False,
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        start = time.perf_counter()

        def failed(error: str, *, refused: bool = False) -> Outcome:
            return Outcome(None, None, error, time.perf_counter() - start, refused=refused)

        try:
            self.guard.check_url(url)
            async with asyncio.timeout(self._timeout):
                return await self._post(url, body, headers, start)
        except Refused as exc:
            return failed(f"Destination refused: {exc}", refused=True)
        except TimeoutError:
            return failed(f"Timed out after {self._timeout:g} s")
        except httpx.TimeoutException as exc:
            return failed(f"Timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as exc:  # DNS failure and anything else is a retryable failure
            return failed(f"{type(exc).__name__}: {exc}")

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], start: float
    ) -> Outcome:
        async with self._client.stream("POST", url, content=body, headers=dict(headers)) as resp:
            text = await _read_capped(resp)
        code = resp.status_code
        ok = 200 <= code < 300
        return Outcome(
            status_code=code,
            response_body=text,
            error=None if ok else f"HTTP {code}",
            duration_secs=time.perf_counter() - start,
            retry_after=None if ok else parse_retry_after(resp.headers.get("retry-after")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()


async def _read_capped(resp: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    # UTF-8 is at most 4 bytes a character: this many bytes cover the cap.
    limit = RESPONSE_BODY_MAX_CHARS * 4
    async for chunk in resp.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    text = b"".join(chunks)[:limit].decode("utf-8", "replace")
    return text[:RESPONSE_BODY_MAX_CHARS]
