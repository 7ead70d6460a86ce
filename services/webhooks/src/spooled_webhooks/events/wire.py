"""The job event stream as the webhooks service reads it.

queue-core's outbox relay writes it (``spooled_queue_core.outbox.wire`` is the
contract); the constants here must match it, which
tests/unit/test_webhooks_wire.py guards. The body is::

    {"v": 1, "outbox_id": 42, "event": "job.completed", "organization_id": "...",
     "queue_name": "emails", "aggregate": "<id>", "created_at": "...Z", "data": {...}}

and the ``Nats-Msg-Id`` header (``core-<database oid>-<outbox id>``) names the
outbox row. That name is the event's *key*: the same on every redelivery of the
message and unique across databases, so delivery ids derived from it
(:mod:`spooled_webhooks.deliveries.ids`) are stable.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

import orjson

STREAM = "SPOOLED_EVENTS"
SUBJECT_PREFIX = "spooled.events"
#: Subject token of an event without a queue.
NO_QUEUE = "_"
#: Limits used only when this service creates the stream before queue-core did
#: (the same as queue-core's and realtime's defaults).
STREAM_MAX_AGE_SECS = 24 * 3600.0
STREAM_DUPLICATE_WINDOW_SECS = 300.0

#: Keys of job events that configure the job's own completion webhook. They are
#: read here and never forwarded to an endpoint (the secret is a credential).
COMPLETION_URL_KEY = "completion_webhook"
COMPLETION_SECRET_KEY = "completion_webhook_secret"
_PRIVATE_KEYS = (COMPLETION_SECRET_KEY,)

_SAFE = frozenset(string.ascii_letters + string.digits + "_-")


def token(value: str) -> str:
    """Escape one subject token the way queue-core's relay does."""
    if not value:
        return NO_QUEUE
    out: list[str] = []
    for ch in value:
        out.append(ch) if ch in _SAFE else out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out)


def subject(org_id: str, queue: str | None, event: str) -> str:
    parts = [token(p) for p in event.split(".")]
    return ".".join([SUBJECT_PREFIX, token(org_id), token(queue or ""), *parts])


@dataclass(frozen=True, slots=True)
class CompletionTarget:
    """A job's own ``completion_webhook`` (API.md §3.7)."""

    url: str
    secret: str | None
    event: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    #: Stable name of the underlying outbox row (see the module docstring).
    key: str
    name: str
    org_id: str
    queue: str | None
    #: When the change happened (RFC 3339, as the relay wrote it).
    created_at: str
    data: dict[str, Any] = field(default_factory=dict)
    #: The trace its deliveries continue (the consumer's span; None while tracing is off).
    traceparent: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The subscribable event types this event fires.

        A terminal failure into the dead-letter queue is both ``job.failed`` and
        the SDK's ``job.deadlettered``.
        """
        if self.name == "job.failed" and self.data.get("status") == "deadletter":
            return ("job.failed", "job.deadlettered")
        return (self.name,)

    def public_data(self) -> dict[str, Any]:
        """The event's data as endpoints receive it."""
        return {k: v for k, v in self.data.items() if k not in _PRIVATE_KEYS}

    def completion(self) -> CompletionTarget | None:
        """The job's completion webhook, for job.completed and terminal job.failed."""
        url = self.data.get(COMPLETION_URL_KEY)
        if self.name not in ("job.completed", "job.failed") or not isinstance(url, str) or not url:
            return None
        secret = self.data.get(COMPLETION_SECRET_KEY)
        d = self.data
        completed = self.name == "job.completed"
        body: dict[str, Any] = {
            "job_id": d.get("job_id"),
            "queue_name": d.get("queue_name", self.queue),
            "status": d.get("status") or ("completed" if completed else "failed"),
        }
        if completed:
            body["result"] = d.get("result")
        else:
            body["error"] = d.get("error")
        secret = secret if isinstance(secret, str) and secret else None
        return CompletionTarget(url, secret, self.name, body)


def parse(body: bytes, msg_id: str | None) -> StreamEvent | None:
    """Decode a relay message; None for anything malformed."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    name, org = doc.get("event"), doc.get("organization_id")
    if not isinstance(name, str) or not isinstance(org, str) or not name or not org:
        return None
    outbox_id = doc.get("outbox_id")
    key = msg_id or (f"outbox-{outbox_id}" if outbox_id is not None else None)
    if not key:
        return None
    data = doc.get("data")
    queue = doc.get("queue_name")
    return StreamEvent(
        key=key,
        name=name,
        org_id=org,
        queue=queue if isinstance(queue, str) else None,
        created_at=str(doc.get("created_at") or ""),
        data=data if isinstance(data, dict) else {},
    )
