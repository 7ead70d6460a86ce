"""Query strings of the job lists (``GET /jobs``, ``GET /jobs/dlq``) → ``ListJobsRequest``.

Lenient like upstream: ``limit`` and ``offset`` are clamped rather than
refused, unknown statuses and orderings are ignored. The SDK sends ``status``
as a comma list (``failed,deadletter``); upstream took one status only.
"""

from __future__ import annotations

from datetime import datetime

from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_gateway.schemas import common

JOB_STATUSES = frozenset(
    {"pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled"}
)
ORDER_BY = frozenset({"created_at", "priority", "status", "queue_name"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
#: Offsets travel as int32 to the services; a larger one could only page past the end.
MAX_OFFSET = 2**31 - 1


def statuses(raw: str | None) -> list[str]:
    """``failed,deadletter`` or one status; unknown ones are dropped (upstream ignores them)."""
    if not raw:
        return []
    return [s for s in (p.strip().lower() for p in raw.split(",")) if s in JOB_STATUSES]


def queue_filter(queue_name: str | None, queue: str | None) -> str | None:
    """``queue_name`` or its alias ``queue``, validated like a queue name (400)."""
    name = queue_name or queue
    return common.path_queue_name(name) if name else None


def clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def page_offset(value: int) -> int:
    """A query ``offset`` clamped to 0..MAX_OFFSET (leniently, like ``limit``): any
    integer a client sends is a valid request, never an int32 overflow (500)."""
    return clamp(value, 0, MAX_OFFSET)


def list_request(
    *,
    queue_name: str | None = None,
    queue: str | None = None,
    statuses: list[str] | None = None,
    tag: str | None = None,
    q: str | None = None,
    job_type: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    order_by: str | None = None,
    order_dir: str | None = None,
) -> pb.ListJobsRequest:
    return pb.ListJobsRequest(
        queue_name=queue_filter(queue_name, queue),
        statuses=statuses or [],
        tag=tag or None,
        q=q or None,
        job_type=job_type or None,
        created_after=common.to_ts(created_after),
        created_before=common.to_ts(created_before),
        limit=clamp(limit, 1, MAX_LIMIT),
        offset=page_offset(offset),
        order_by=order_by if order_by in ORDER_BY else "created_at",
        order_dir="asc" if (order_dir or "").lower() == "asc" else "desc",
    )
