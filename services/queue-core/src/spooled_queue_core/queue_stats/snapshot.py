"""One reading of the queue_stats query, folded to a bounded set of queues."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spooled_queue_core.queue_labels import OTHER


@dataclass(frozen=True, slots=True)
class QueueBacklog:
    queue: str
    pending: int = 0
    processing: int = 0
    deadletter: int = 0
    #: Seconds the oldest runnable job has waited (0: none is waiting).
    max_age_secs: float = 0.0

    @property
    def depth(self) -> int:
        return self.pending + self.processing + self.deadletter

    def merge(self, other: QueueBacklog) -> QueueBacklog:
        """Counts add up; the oldest job is the older of the two."""
        return QueueBacklog(
            self.queue,
            self.pending + other.pending,
            self.processing + other.processing,
            self.deadletter + other.deadletter,
            max(self.max_age_secs, other.max_age_secs),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    queues: tuple[QueueBacklog, ...]
    workers_active: int
    workers_healthy: int


def fold(queues: Iterable[QueueBacklog], limit: int) -> tuple[QueueBacklog, ...]:
    """The ``limit`` deepest queues by name, and the rest summed into ``_other``.

    Depth is pending + processing + dead-lettered: a queue matters when any of
    them is large. Ties go by name, so the choice is stable between scrapes.
    Sums and the maximum age are preserved, so totals and age alerts stay
    right over the folded series.
    """
    ranked = sorted(queues, key=lambda q: (-q.depth, q.queue))
    kept, rest = ranked[:limit], ranked[limit:]
    if not rest:
        return tuple(kept)
    other = QueueBacklog(OTHER)
    for q in rest:
        other = other.merge(q)
    # A real queue named like the fold target shares its series.
    same = [q for q in kept if q.queue == OTHER]
    if same:
        kept.remove(same[0])
        other = other.merge(same[0])
    return (*kept, other)


def from_rows(rows: Iterable[Mapping[str, Any]], limit: int) -> Snapshot:
    """Rows of the queue_stats query (every row repeats the fleet counts)."""
    rows = list(rows)
    queues = [
        QueueBacklog(
            r["queue_name"],
            int(r["pending"]),
            int(r["processing"]),
            int(r["deadletter"]),
            float(r["max_age_secs"]),
        )
        for r in rows
        if r["queue_name"] is not None
    ]
    first = rows[0] if rows else {"workers_active": 0, "workers_healthy": 0}
    return Snapshot(
        fold(queues, limit), int(first["workers_active"]), int(first["workers_healthy"])
    )
