"""The span of one delivery attempt: ``deliver <event>``, a child of its event's trace.

Kind CLIENT (it is an outgoing HTTP POST) with the HTTP client attributes,
``server.address``/``server.port`` of the receiver (never the full URL: its
path or query may hold a token) and the delivery's ids. The request itself
carries no trace header: the receiver is a third party.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from spooled_common import tracing
from spooled_common.tracing import attrs

from spooled_webhooks.deliveries.outcomes import Claimed
from spooled_webhooks.sending.sender import Outcome


def attempt_span(c: Claimed) -> AbstractContextManager[trace.Span]:
    attributes: dict[str, Any] = {
        attrs.HTTP_METHOD: "POST",
        attrs.ORG_ID: c.org_id,
        attrs.EVENT: c.event,
        attrs.DELIVERY_ID: c.id,
        attrs.ATTEMPT: c.attempt,
    }
    try:
        target = urlsplit(c.url)
        if target.hostname:
            attributes[attrs.SERVER_ADDRESS] = target.hostname
        if target.port:
            attributes[attrs.SERVER_PORT] = target.port
    except ValueError:
        pass  # a malformed URL fails the attempt itself; the span just lacks the address
    if c.webhook_id:
        attributes[attrs.WEBHOOK_ID] = c.webhook_id
    if c.job_id:
        attributes[attrs.JOB_ID] = c.job_id
    return tracing.tracer().start_as_current_span(
        f"deliver {c.event}",
        context=tracing.context_of(c.traceparent),
        kind=SpanKind.CLIENT,
        attributes=attributes,
        # A manual retry runs inside its API request: link to it (the dispatcher has none).
        links=tracing.current_link(),
    )


def record(span: trace.Span, outcome: Outcome) -> None:
    if outcome.status_code is not None:
        span.set_attribute(attrs.HTTP_STATUS, outcome.status_code)
    if not outcome.success:
        kind = str(outcome.status_code) if outcome.status_code is not None else "network"
        span.set_attribute(attrs.ERROR_TYPE, "refused" if outcome.refused else kind)
        span.set_status(Status(StatusCode.ERROR))
