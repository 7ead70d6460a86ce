"""From queue-core's outbox events to the upstream realtime envelopes (API.md §12.1).

An envelope is ``{"type": "<PascalCase>", "data": {...}}``; each type also has
a dotted *filter name* (``JobStatusChange`` → ``job.status``) used for SSE
``event:`` lines and for ``?events=`` filters. One outbox event can yield
several envelopes (a failure is a status change *and* a ``JobFailed``).

Input: the relay's message body (see ``spooled_queue_core.outbox.wire``)::

    {"v": 1, "outbox_id": 42, "event": "job.completed", "organization_id": "...",
     "queue_name": "emails", "aggregate": "<id>", "created_at": "...Z", "data": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

#: Envelope type → filter name.
FILTER_NAMES = {
    "JobStatusChange": "job.status",
    "JobCreated": "job.created",
    "JobCompleted": "job.completed",
    "JobFailed": "job.failed",
    "QueueStats": "queue.stats",
    "WorkerHeartbeat": "worker.heartbeat",
    "WorkerRegistered": "worker.registered",
    "WorkerDeregistered": "worker.deregistered",
    "SystemHealth": "system.health",
    "Ping": "ping",
    "Error": "error",
}
WORKER_TYPES = frozenset({"WorkerHeartbeat", "WorkerRegistered", "WorkerDeregistered"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "deadletter", "cancelled"})


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Envelope:
    type: str
    data: dict[str, Any]

    @property
    def filter_name(self) -> str:
        return FILTER_NAMES.get(self.type, self.type.lower())

    def to_json(self) -> bytes:
        return orjson.dumps({"type": self.type, "data": self.data})


def ping() -> Envelope:
    return Envelope("Ping", {"timestamp": now_iso()})


def error(message: str) -> Envelope:
    return Envelope("Error", {"message": message, "timestamp": now_iso()})


def status_change(job_id: str, queue: str, old: str, new: str, ts: str | None = None) -> Envelope:
    return Envelope(
        "JobStatusChange",
        {
            "job_id": job_id,
            "queue_name": queue,
            "old_status": old,
            "new_status": new,
            "timestamp": ts or now_iso(),
        },
    )


def queue_stats(queue: str, stats: Any) -> Envelope:
    """From queue-core's ``QueueStats`` reply; scheduled counts as pending, deadletter as failed."""
    return Envelope(
        "QueueStats",
        {
            "queue_name": queue,
            "pending": stats.pending + stats.scheduled,
            "processing": stats.processing,
            "completed": stats.completed,
            "failed": stats.failed + stats.deadletter,
            "timestamp": now_iso(),
        },
    )


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox event as realtime sees it, already mapped to envelopes."""

    org_id: str
    name: str
    queue: str | None
    #: The job it is about (job events only).
    job_id: str | None
    #: The job status this event implies (job events only), for job streams.
    new_status: str | None
    envelopes: tuple[Envelope, ...]
    #: JetStream stream sequence: the SSE ``id:`` and the Last-Event-ID cursor.
    seq: int | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def parse(body: bytes, seq: int | None = None) -> Event | None:
    """Decode a relay message; None for anything malformed or of no realtime interest."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("organization_id"), str):
        return None
    name = doc.get("event")
    raw_data = doc.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if not isinstance(name, str):
        return None
    queue = doc.get("queue_name") or data.get("queue_name")
    ts = doc.get("created_at") or now_iso()
    envelopes, new_status = _map(name, data, queue or "", ts)
    job_id = data.get("job_id") if name.startswith("job.") else None
    return Event(
        org_id=doc["organization_id"],
        name=name,
        queue=queue,
        job_id=job_id,
        new_status=new_status,
        envelopes=tuple(envelopes),
        seq=seq,
        data=data,
    )


def _map(name: str, d: dict[str, Any], queue: str, ts: str) -> tuple[list[Envelope], str | None]:
    """(envelopes, implied new job status) for one outbox event."""
    job = str(d.get("job_id", ""))
    if name == "job.created":
        status = d.get("status") or "pending"
        return [
            Envelope(
                "JobCreated",
                {
                    "job_id": job,
                    "queue_name": queue,
                    "priority": int(d.get("priority") or 0),
                    "timestamp": ts,
                },
            )
        ], status
    if name == "job.started":
        return [status_change(job, queue, "pending", "processing", ts)], "processing"
    if name == "job.completed":
        data: dict[str, Any] = {
            "job_id": job,
            "queue_name": queue,
            "duration_ms": int(d.get("duration_ms") or 0),
            "timestamp": ts,
        }
        if d.get("result") is not None:
            data["result"] = d["result"]
        return [Envelope("JobCompleted", data)], "completed"
    if name == "job.failed":
        status = d.get("status") or "failed"
        return [
            status_change(job, queue, "processing", status, ts),
            Envelope(
                "JobFailed",
                {
                    "job_id": job,
                    "queue_name": queue,
                    "error": d.get("error") or "",
                    "retry_count": int(d.get("retry_count") or 0),
                    "timestamp": ts,
                },
            ),
        ], status
    if name == "job.cancelled":
        return [status_change(job, queue, "pending", "cancelled", ts)], "cancelled"
    if name == "worker.registered":
        return [
            Envelope(
                "WorkerRegistered",
                {
                    "worker_id": d.get("worker_id", ""),
                    "queue_name": queue,
                    "timestamp": ts,
                },
            )
        ], None
    if name == "worker.deregistered":
        return [
            Envelope(
                "WorkerDeregistered",
                {
                    "worker_id": d.get("worker_id", ""),
                    "timestamp": ts,
                },
            )
        ], None
    # queue.paused/resumed, schedule.triggered, …: no realtime envelope upstream.
    return [], None
