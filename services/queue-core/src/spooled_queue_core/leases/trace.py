"""Spans of a job's life in queue-core: ``job.claim``, ``job.complete`` and ``job.fail``.

A job stores the ``traceparent`` of its enqueue (migration 0004). When a
worker claims or settles it, the span made here is a *child of that stored
context*, so the job's trace continues, and it *links* to the worker's own
request (another trace: workers send no context of the job). Each span covers
the request that did it, up to the commit. Jobs enqueued while tracing was off
have no stored context and get no span (the request's own span remains).

Called after the transaction; while tracing is off each call returns at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from spooled_common import tracing
from spooled_common.tracing import attrs


def claimed(org_id: str, queue: str, worker_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """One ``job.claim`` per claimed job (``rows`` as claim_jobs returns them)."""
    if not tracing.enabled() or not rows:
        return
    start, links = _request_start(), tracing.current_link()
    for row in rows:
        _job_span(
            "job.claim",
            row["traceparent"],
            start,
            links,
            {
                attrs.ORG_ID: org_id,
                attrs.QUEUE: queue,
                attrs.JOB_ID: row["id"],
                attrs.WORKER_ID: worker_id,
                attrs.BATCH_SIZE: len(rows),
            },
        )


def settled(name: str, org_id: str, job_id: str, worker_id: str, row: Mapping[str, Any]) -> None:
    """``job.complete`` or ``job.fail`` (``row`` as complete_job / fail_job return it)."""
    if not tracing.enabled():
        return
    _job_span(
        name,
        row["traceparent"],
        _request_start(),
        tracing.current_link(),
        {
            attrs.ORG_ID: org_id,
            attrs.QUEUE: row["queue_name"] or "",
            attrs.JOB_ID: job_id,
            attrs.WORKER_ID: worker_id,
            attrs.JOB_STATUS: row["status"],
        },
    )


def _job_span(
    name: str,
    stored: str | None,
    start: int,
    links: list[trace.Link],
    attributes: dict[str, Any],
) -> None:
    parent = tracing.context_of(stored)
    if parent is None:
        return
    span = tracing.tracer().start_span(
        name, context=parent, links=links, start_time=start, attributes=attributes
    )
    span.end()


def _request_start() -> int:
    """When the current request's span began (ns), else now."""
    start = getattr(trace.get_current_span(), "start_time", None)
    return start if isinstance(start, int) else time.time_ns()
