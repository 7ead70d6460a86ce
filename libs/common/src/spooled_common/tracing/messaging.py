"""Spans around the NATS JetStream event stream: publish (PRODUCER) and process (CONSUMER).

The relay publishes an outbox row inside ``publish <event>``, a child of the
context stored with the row, and sends that span's context in the message
headers; a consumer continues it in ``process <event>``. Attributes follow the
messaging conventions (``messaging.system=nats``, ``messaging.destination.name``
= the subject) plus the event's org, queue and job.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from spooled_common.tracing import attrs
from spooled_common.tracing._context import context_of, extract
from spooled_common.tracing._setup import tracer

SYSTEM = "nats"


def event_attributes(
    event: str, org_id: str | None, queue: str | None, aggregate: Any = None
) -> dict[str, Any]:
    """``spooled.*`` attributes of one stream event (the aggregate of a job event is its id)."""
    out: dict[str, Any] = {attrs.EVENT: event}
    if org_id:
        out[attrs.ORG_ID] = org_id
    if queue:
        out[attrs.QUEUE] = queue
    if aggregate and event.startswith("job."):
        out[attrs.JOB_ID] = str(aggregate)
    return out


def publish_span(
    event: str,
    subject: str,
    message_id: str,
    parent: str | None,
    attributes: Mapping[str, Any],
) -> AbstractContextManager[trace.Span]:
    """``publish <event>``, current while open, a child of the stored ``parent`` traceparent."""
    return tracer().start_as_current_span(
        f"publish {event}",
        context=context_of(parent),
        kind=SpanKind.PRODUCER,
        attributes={
            attrs.MESSAGING_SYSTEM: SYSTEM,
            attrs.MESSAGING_DESTINATION: subject,
            attrs.MESSAGING_OPERATION_TYPE: "send",
            attrs.MESSAGING_OPERATION_NAME: "publish",
            attrs.MESSAGING_MESSAGE_ID: message_id,
            **attributes,
        },
    )


def process_span(
    event: str,
    subject: str,
    headers: Mapping[str, str] | None,
    attributes: Mapping[str, Any],
    *,
    consumer_group: str | None = None,
) -> trace.Span:
    """Start ``process <event>`` as the child of the context in the message headers.

    Not made current: a consumer handles a batch of messages at once, each with
    its own trace. The caller ends it.
    """
    extra: dict[str, Any] = {}
    if consumer_group:
        extra[attrs.MESSAGING_CONSUMER_GROUP] = consumer_group
    return tracer().start_span(
        f"process {event}",
        context=extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            attrs.MESSAGING_SYSTEM: SYSTEM,
            attrs.MESSAGING_DESTINATION: subject,
            attrs.MESSAGING_OPERATION_TYPE: "process",
            attrs.MESSAGING_OPERATION_NAME: "process",
            **extra,
            **attributes,
        },
    )
