"""What diagnosis reads (facts) and what it answers (blockers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Machine-readable blocker codes, in the order rules.py considers them.
COMPLETED = "COMPLETED"
DEAD_LETTERED = "DEAD_LETTERED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
LEASED = "LEASED"
LEASE_HOLDER_LOST = "LEASE_HOLDER_LOST"
LEASE_EXPIRED = "LEASE_EXPIRED"
EXPIRED = "EXPIRED"
DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
QUEUE_PAUSED = "QUEUE_PAUSED"
WAITING_ON_DEPENDENCY = "WAITING_ON_DEPENDENCY"
SCHEDULED = "SCHEDULED"
RETRY_BACKOFF = "RETRY_BACKOFF"
PLAN_LIMIT = "PLAN_LIMIT"
NO_WORKER = "NO_WORKER"
READY = "READY"


@dataclass(frozen=True, slots=True)
class Blocker:
    code: str
    message: str
    #: JSON-serialisable; timestamps already rendered as RFC 3339 strings.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dependency:
    job_id: str
    queue_name: str
    status: str
    #: "parent_job_id" or "job_dependencies": which edge names it.
    via: str


@dataclass(frozen=True, slots=True)
class QueueWorkers:
    live_workers: int = 0
    slots: int = 0
    busy_slots: int = 0
    draining_workers: int = 0
    #: Registered for this queue and not offline (what the plan's worker cap counts).
    registered_workers: int = 0
    last_heartbeat: datetime | None = None
    last_claim: datetime | None = None
    org_live_workers: int = 0

    @property
    def last_seen(self) -> datetime | None:
        seen = [t for t in (self.last_heartbeat, self.last_claim) if t is not None]
        return max(seen) if seen else None


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    id: str
    hostname: str
    status: str
    last_heartbeat: datetime


@dataclass(frozen=True, slots=True)
class PlanCaps:
    """The plan caps that can hold a job back (sent by the gateway, which owns plans)."""

    tier: str = ""
    max_workers: int | None = None
    upgrade_to: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """Timings of this deployment, for ETAs and "seen recently"."""

    #: A worker heard from within this many seconds counts as live.
    seen_window_secs: int
    #: The reaper runs this often (expired leases are requeued by its next pass).
    reaper_interval_secs: float
    #: A worker silent this long is declared offline and its jobs released.
    stale_worker_secs: int


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the rules look at, read in one transaction."""

    job: dict[str, Any]
    now: datetime
    dependencies: list[Dependency] = field(default_factory=list)
    workers: QueueWorkers = field(default_factory=QueueWorkers)
    lease_holder: LeaseHolder | None = None
    #: Claimable jobs ahead of this one in its queue.
    ahead: int = 0
    #: Newest history event explaining a terminal state ({event_type, details, ...}).
    last_event: dict[str, Any] | None = None
    dead_letter_reason: str | None = None
    plan: PlanCaps = field(default_factory=PlanCaps)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    job_id: str
    queue_name: str
    status: str
    blockers: list[Blocker]
    checked_at: datetime

    @property
    def runnable(self) -> bool:
        return [b.code for b in self.blockers] == [READY]
