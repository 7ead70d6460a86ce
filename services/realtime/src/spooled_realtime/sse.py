"""Server-Sent Events: ``/api/v1/events``, ``/events/jobs/{id}``, ``/events/queues/{name}``.

Frames (API.md §12.3): a first ``: connected`` comment; events as
``id: <stream seq>`` / ``event: <filter name>`` / ``data: <envelope JSON>``;
``: ping`` comments while quiet. A stream lives at most
``REALTIME_SSE_MAX_LIFETIME_SECS`` and then ends with a ``reconnect`` event;
the client resumes with ``Last-Event-ID`` and the gap is replayed from the
stream. A client that cannot keep up is ended the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from spooled_common import errors
from spooled_common.tenant import Tenant
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from spooled_realtime import envelope as env
from spooled_realtime.filters import Filter, check_job_id, check_queue
from spooled_realtime.hub import Closed, Subscriber
from spooled_realtime.runtime import Runtime

log = logging.getLogger(__name__)

CONNECTED = b": connected\n\n"
KEEPALIVE = b": ping\n\n"
#: Ordering of job states, so a late event never moves a job stream backwards.
_RANK = {"pending": 0, "scheduled": 0, "processing": 1}


def frame(envelope: env.Envelope, seq: int | None = None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    head += f"event: {envelope.filter_name}\ndata: "
    return head.encode() + envelope.to_json() + b"\n\n"


def reconnect_frame(reason: str) -> bytes:
    data = orjson.dumps(
        {"type": "reconnect", "data": {"reason": reason, "timestamp": env.now_iso()}}
    )
    return b"retry: 1000\nevent: reconnect\ndata: " + data + b"\n\n"


def last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


class _Stream(StreamingResponse):
    """An SSE response that releases its subscription however the exchange ends.

    The subscription is taken *before* the response starts, so a client that
    has seen the headers is already receiving events; the cleanup runs even
    when the client leaves before the body generator ever started.
    """

    def __init__(self, body: AsyncIterator[bytes], cleanup: Callable[[], None]) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "Connection": "keep-alive",
            },
        )
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._cleanup()


def _subscribe(rt: Runtime, org: str) -> tuple[Subscriber, Callable[[], None]]:
    sub = rt.hub.register(org)
    rt.limiter.add(org, "sse")

    def cleanup() -> None:
        rt.hub.unregister(sub)
        rt.limiter.remove(org, "sse")

    return sub, cleanup


# -- /api/v1/events -----------------------------------------------------------------
async def events(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    tenant = rt.authenticate(request.headers)
    flt = Filter.from_query(tenant, request.query_params)
    rt.limiter.check(tenant.org_id, "SSE")
    # Subscribed before replaying: nothing stored meanwhile can fall in between.
    sub, cleanup = _subscribe(rt, tenant.org_id)
    return _Stream(_event_stream(rt, sub, flt, last_event_id(request)), cleanup)


async def _event_stream(
    rt: Runtime, sub: Subscriber, flt: Filter, last_id: int | None
) -> AsyncIterator[bytes]:
    org = flt.tenant.org_id
    yield CONNECTED
    seen = 0
    if last_id is not None:
        for old in await rt.hub.replay(org, last_id, rt.settings.replay_limit):
            for e in flt.envelopes(old):
                yield frame(e, old.seq)
            seen = old.seq or seen
    deadline = rt.deadline()
    while True:
        try:
            event = await sub.next(min(rt.settings.sse_keepalive_secs, rt.left(deadline)))
        except Closed as exc:
            yield reconnect_frame(str(exc))
            return
        if event is None:
            if rt.left(deadline) <= 0:
                yield reconnect_frame("max connection lifetime")
                return
            yield KEEPALIVE
            continue
        if event.seq is not None and event.seq <= seen:
            continue  # already replayed
        for e in flt.envelopes(event):
            rt.sent()
            yield frame(e, event.seq)


# -- /api/v1/events/jobs/{id} -------------------------------------------------------
async def job_events(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    tenant = rt.authenticate(request.headers)
    job_id = check_job_id(request.path_params["job_id"])
    rt.limiter.check(tenant.org_id, "SSE")
    sub, cleanup = _subscribe(rt, tenant.org_id)
    return _Stream(_job_stream(rt, sub, tenant, job_id), cleanup)


async def _job_stream(
    rt: Runtime, sub: Subscriber, tenant: Tenant, job_id: str
) -> AsyncIterator[bytes]:
    yield CONNECTED
    try:
        async for chunk in _follow_job(rt, sub, tenant, job_id):
            yield chunk
    except errors.AppError as exc:
        # queue-core unreachable: end cleanly; the client retries.
        log.warning("job stream %s: %s", job_id, exc.message)
        yield reconnect_frame("job lookup unavailable")


async def _follow_job(
    rt: Runtime, sub: Subscriber, tenant: Tenant, job_id: str
) -> AsyncIterator[bytes]:
    job = await _lookup(rt, tenant, job_id)
    if job is None:
        yield frame(env.error("Job not found"))
        return
    queue, status = job.queue_name, job.status
    yield frame(env.status_change(job_id, queue, "", status))
    deadline = rt.deadline()
    while status not in env.TERMINAL_STATUSES:
        try:
            event = await sub.next(min(rt.settings.job_poll_interval_secs, rt.left(deadline)))
        except Closed as exc:
            yield reconnect_frame(str(exc))
            return
        new, seq = _implied_status(event, job_id, status), getattr(event, "seq", None)
        if event is None:
            # Nothing heard for a while: re-read the job (an event may have been missed).
            job = await _lookup(rt, tenant, job_id)
            if job is None:
                yield frame(env.error("Job not found"))
                return
            new = job.status if job.status != status else None
        if new is not None:
            yield frame(env.status_change(job_id, queue, status, new), seq)
            status = new
        elif event is None:
            yield KEEPALIVE
        if rt.left(deadline) <= 0 and status not in env.TERMINAL_STATUSES:
            yield reconnect_frame("max connection lifetime")
            return


def _implied_status(event: env.Event | None, job_id: str, current: str) -> str | None:
    """The status an event moves this job to, if it is about it and moves it forward."""
    if event is None or event.job_id != job_id or event.new_status is None:
        return None
    new = event.new_status
    if new == current or _RANK.get(new, 2) <= _RANK.get(current, 2):
        return None
    return new


async def _lookup(rt: Runtime, tenant: Tenant, job_id: str) -> Any | None:
    try:
        return await rt.core.job(tenant, job_id)
    except errors.AppError as exc:
        if exc.status < 500:
            return None
        raise


# -- /api/v1/events/queues/{name} ---------------------------------------------------
async def queue_events(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    tenant = rt.authenticate(request.headers)
    name = check_queue(tenant, request.path_params["name"])
    rt.limiter.check(tenant.org_id, "SSE")
    rt.limiter.add(tenant.org_id, "sse")
    return _Stream(_queue_stream(rt, tenant, name), lambda: rt.limiter.remove(tenant.org_id, "sse"))


async def _queue_stream(rt: Runtime, tenant: Tenant, name: str) -> AsyncIterator[bytes]:
    yield CONNECTED
    deadline = rt.deadline()
    while rt.left(deadline) > 0:
        try:
            stats = await rt.core.queue_stats(tenant, name)
            yield frame(env.queue_stats(name, stats))
        except errors.AppError as exc:
            log.warning("queue stats for %s unavailable: %s", name, exc.message)
            yield KEEPALIVE
        if await rt.wait_closing(min(rt.settings.queue_stats_interval_secs, rt.left(deadline))):
            break
    yield reconnect_frame("max connection lifetime")
