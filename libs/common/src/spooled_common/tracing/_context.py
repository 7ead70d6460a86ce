"""Trace context in and out of carriers: gRPC metadata, NATS headers, database columns.

A carrier crossing a process (metadata, headers) goes through the global
propagator (W3C ``traceparent`` + ``baggage`` unless ``OTEL_PROPAGATORS`` says
otherwise). A context kept in a row (a job's enqueue, an outbox event, a
webhook delivery) is its bare W3C ``traceparent`` string: short, and readable
by anything.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spooled_common.tracing._setup import enabled

TRACEPARENT = "traceparent"
_W3C = TraceContextTextMapPropagator()


def traceparent(span: trace.Span | None = None) -> str | None:
    """The W3C ``traceparent`` of ``span`` (default: the current one).

    None while tracing is off or there is no valid span: that is what a row
    stores then, and what makes the column cost nothing.
    """
    if not enabled():
        return None
    sc = (span or trace.get_current_span()).get_span_context()
    if not sc.is_valid:
        return None
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


def context_of(value: str | None) -> Context | None:
    """The parent context a stored ``traceparent`` names (None: none or malformed)."""
    if not value:
        return None
    ctx = _W3C.extract({TRACEPARENT: value})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def span_context_of(value: str | None) -> trace.SpanContext | None:
    """Like :func:`context_of`, as a SpanContext (to link to it)."""
    ctx = context_of(value)
    return None if ctx is None else trace.get_current_span(ctx).get_span_context()


def inject(carrier: MutableMapping[str, str], span: trace.Span | None = None) -> None:
    """Write the context of ``span`` (default: the current one) into ``carrier``."""
    ctx = trace.set_span_in_context(span) if span is not None else None
    propagate.inject(carrier, context=ctx)


def extract(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote parent a carrier names; None when it names none."""
    if not carrier:
        return None
    ctx = propagate.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def current_link() -> list[trace.Link]:
    """A link to the current span (a job's span pointing at the request that touched it)."""
    sc = trace.get_current_span().get_span_context()
    return [trace.Link(sc)] if sc.is_valid else []


def annotate(attributes: Mapping[str, str | int]) -> None:
    """Add attributes to the current span (e.g. the caller's org once it is known)."""
    if enabled():
        trace.get_current_span().set_attributes(attributes)
