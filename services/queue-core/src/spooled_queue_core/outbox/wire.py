"""What the relay puts on NATS: stream, subjects, headers and the message body.

This module is the contract with every consumer of the event stream (realtime,
webhooks). Keep it in step with their parsers; the shape is versioned by the
``v`` field of the body.

* Stream ``SPOOLED_EVENTS`` holds subjects ``spooled.events.>``.
* Subject ``spooled.events.<org>.<queue>.<event>``, where ``<event>`` keeps its
  own dot (``job.created`` is two tokens), so ``spooled.events.<org>.>`` is one
  tenant and ``spooled.events.*.*.job.*`` every job event. Each variable token
  is escaped with :func:`token` (reversible, so a consumer may filter on an
  exact queue by escaping it the same way).
* Header ``Nats-Msg-Id`` = ``core-<database oid>-<outbox id>``: JetStream drops a
  re-publish of the same row inside the duplicate window. The database oid keeps
  two databases (tests, a restored backup) from colliding on small outbox ids.
* Body (JSON)::

    {"v": 1, "outbox_id": 42, "event": "job.completed", "organization_id": "...",
     "queue_name": "emails", "aggregate": "<job id | queue | worker id>",
     "created_at": "2026-01-01T12:00:00.123456Z", "data": {...outbox payload...}}
"""

from __future__ import annotations

import functools
import string
from datetime import datetime
from typing import Any

import orjson
from spooled_common import timefmt

STREAM = "SPOOLED_EVENTS"
SUBJECT_PREFIX = "spooled.events"
STREAM_SUBJECTS = [f"{SUBJECT_PREFIX}.>"]
#: Token used when an event has no queue.
NO_QUEUE = "_"
BODY_VERSION = 1

_SAFE = frozenset(string.ascii_letters + string.digits + "_-")


def token(value: str) -> str:
    """Escape one subject token: keep ``[A-Za-z0-9_-]``, ``%XX`` every other UTF-8 byte.

    NATS forbids ``.``, ``*``, ``>`` and whitespace inside a token; escaping
    (instead of replacing) keeps distinct queue names on distinct subjects.
    """
    if not value:
        return NO_QUEUE
    out = []
    for ch in value:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out)


# The relay publishes every event through here, and a busy deployment has few
# distinct (org, queue, event) triples: escaping them once saves ~10 % of its CPU.
@functools.lru_cache(maxsize=4096)
def subject(org_id: str, queue: str | None, event: str) -> str:
    """``spooled.events.<org>.<queue>.<event parts>`` with every part escaped."""
    parts = [token(p) for p in event.split(".")]
    return ".".join([SUBJECT_PREFIX, token(org_id), token(queue or ""), *parts])


def org_subject(org_id: str) -> str:
    """Every event of one organization."""
    return f"{SUBJECT_PREFIX}.{token(org_id)}.>"


def msg_id(namespace: str, outbox_id: int) -> str:
    return f"core-{namespace}-{outbox_id}"


def body(
    *,
    outbox_id: int,
    event: str,
    org_id: str,
    queue: str | None,
    aggregate: str,
    created_at: datetime,
    data: Any,
) -> bytes:
    """The JSON body; ``data`` is the outbox payload (already-encoded JSON text or a value)."""
    raw = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = orjson.dumps(
        {
            "v": BODY_VERSION,
            "outbox_id": outbox_id,
            "event": event,
            "organization_id": org_id,
            "queue_name": queue,
            "aggregate": aggregate,
            "created_at": timefmt.iso(created_at),
        }
    )
    # Splice the payload in as raw JSON: it was stored as JSONB, never re-encoded.
    return head[:-1] + b',"data":' + raw.encode() + b"}"
