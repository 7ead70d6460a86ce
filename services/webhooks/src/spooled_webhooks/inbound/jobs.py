"""From a verified incoming webhook to the job it creates.

============  =======================  =======================  ==============================
provider      queue                    payload                  idempotency key
============  =======================  =======================  ==============================
custom        body ``queue_name``      body ``payload``         body ``idempotency_key`` (opt.)
github        ``github-<event>``       the whole body           ``github:<X-GitHub-Delivery>``
stripe        ``stripe-<type, . → ->`` ``data.object``          ``stripe:<event id>``
============  =======================  =======================  ==============================

Provider event ids become idempotency keys, so a provider retrying (or an
attacker replaying) the same event yields the existing job, never a second
one: queue-core's per-organization unique key is the deduplication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from spooled_common import errors

_QUEUE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_EVENT_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: Queue names an incoming webhook may not target (upstream, case-insensitive).
RESERVED_QUEUES = frozenset({"admin", "system", "internal", "root", "default"})
QUEUE_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class InboundJob:
    queue_name: str
    #: JSON bytes of the job payload.
    payload: bytes
    event_type: str
    idempotency_key: str | None = None
    priority: int = 0
    #: The provider's own id of the event (logged with the delivery).
    provider_event_id: str | None = None


class CustomBody(BaseModel):
    """``POST /webhooks/{org_id}/custom`` (API.md §10.2; SDK ``ingest.custom``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    queue_name: Annotated[str, StringConstraints(min_length=1, max_length=QUEUE_NAME_MAX)]
    event_type: Annotated[str, StringConstraints(max_length=100)] | None = None
    payload: Any = Field(...)
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    priority: Annotated[int, Field(ge=-100, le=100)] | None = None


def _invalid(exc: pydantic.ValidationError) -> errors.ValidationError:
    details = [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "body",
            "message": e["msg"],
            "code": e["type"].upper(),
        }
        for e in exc.errors(include_url=False)
    ]
    first = details[0] if details else {"field": "body", "message": "Invalid request body"}
    return errors.ValidationError(f"{first['field']}: {first['message']}", details=details)


def check_queue_name(name: str) -> str:
    if not _QUEUE_RE.fullmatch(name) or ".." in name:
        raise errors.ValidationError(
            "queue_name: must be 1-100 characters of letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-', without '..'"
        )
    if name.lower() in RESERVED_QUEUES:
        raise errors.ValidationError(f"queue_name: '{name}' is reserved")
    return name


def _dump(value: Any, limit: int) -> bytes:
    raw = orjson.dumps(value)
    if len(raw) > limit:
        raise errors.PayloadTooLarge(
            f"Payload size ({len(raw)} bytes) exceeds the maximum ({limit} bytes)",
            extra={"current": len(raw), "limit": limit},
        )
    return raw


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise errors.BadRequest("The request body is not valid JSON") from None


def provider_queue(provider: str, event: str) -> str:
    """``github-push``, ``stripe-invoice-paid``: the event with unsafe runs as ``-``."""
    safe = _UNSAFE.sub("-", event.replace(".", "-")).strip("-").lower() or "event"
    return f"{provider}-{safe}"[:QUEUE_NAME_MAX]


def custom_job(body: bytes, max_payload: int) -> InboundJob:
    try:
        doc = CustomBody.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise _invalid(exc) from None
    event = doc.event_type or "custom"
    if not _EVENT_RE.fullmatch(event):
        raise errors.ValidationError(
            "event_type: must be 1-100 characters of letters, digits, '_', '.' or '-'"
        )
    return InboundJob(
        queue_name=check_queue_name(doc.queue_name),
        payload=_dump(doc.payload, max_payload),
        event_type=event,
        idempotency_key=doc.idempotency_key,
        priority=doc.priority or 0,
    )


def github_job(body: bytes, headers: dict[str, str], max_payload: int) -> InboundJob:
    event = headers.get("x-github-event", "").strip()
    if not event:
        raise errors.BadRequest("Missing X-GitHub-Event header")
    delivery = headers.get("x-github-delivery", "").strip() or None
    doc = _json(body)
    return InboundJob(
        queue_name=provider_queue("github", event),
        payload=_dump(doc, max_payload),
        event_type=event[:100],
        idempotency_key=f"github:{delivery}"[:255] if delivery else None,
        provider_event_id=delivery,
    )


def stripe_job(body: bytes, max_payload: int) -> InboundJob:
    doc = _json(body)
    if not isinstance(doc, dict):
        raise errors.BadRequest("A Stripe event must be a JSON object")
    event_id, event_type = doc.get("id"), doc.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise errors.BadRequest("A Stripe event needs string 'id' and 'type' fields")
    data = doc.get("data")
    obj = data.get("object") if isinstance(data, dict) and "object" in data else doc
    return InboundJob(
        queue_name=provider_queue("stripe", event_type),
        payload=_dump(obj, max_payload),
        event_type=event_type[:100],
        idempotency_key=f"stripe:{event_id}"[:255],
        provider_event_id=event_id,
    )


def job_for(provider: str, body: bytes, headers: dict[str, str], max_payload: int) -> InboundJob:
    if provider == "github":
        return github_job(body, headers, max_payload)
    if provider == "stripe":
        return stripe_job(body, max_payload)
    return custom_job(body, max_payload)
