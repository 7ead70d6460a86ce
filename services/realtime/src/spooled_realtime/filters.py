"""What one connection wants to see: its tenant, key scope, queue/job subscriptions, event names.

Isolation is decided here, for every event and every connection:

* only the connection's own organization (the hub already routes by org);
* a key scoped to some queues sees only events of those queues, and never
  worker events (API.md §12.2);
* ``?queue=`` (``*`` globs allowed), ``?job_id=`` and ``?events=`` narrow it
  further; WebSocket ``Subscribe`` commands add queue/job subscriptions, and an
  event passes when it matches any of them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from spooled_common import errors
from spooled_common.tenant import Tenant

from spooled_realtime.envelope import WORKER_TYPES, Envelope, Event

QUEUE_FILTER = re.compile(r"^[A-Za-z0-9_.*-]{1,100}$")
MAX_JOB_ID = 255


@dataclass(frozen=True, slots=True)
class Subscription:
    queue: str | None = None
    job_id: str | None = None

    def matches(self, queue: str | None, job_id: str | None) -> bool:
        if self.job_id is not None and job_id != self.job_id:
            return False
        if self.queue is None:
            return True
        if queue is None:
            return False
        if "*" in self.queue:
            return fnmatch.fnmatchcase(queue, self.queue)
        return queue == self.queue


def check_queue(tenant: Tenant, queue: str) -> str:
    """400 for a malformed queue filter, 403 for one outside the key's scope."""
    if not QUEUE_FILTER.match(queue):
        raise errors.ValidationError("Invalid queue filter")
    if not tenant.allows(queue):
        raise errors.AccessDenied("Queue is outside API key scope")
    return queue


def check_job_id(job_id: str) -> str:
    if not job_id or len(job_id) > MAX_JOB_ID:
        raise errors.ValidationError("Invalid job_id filter")
    return job_id


def parse_events(raw: str | None) -> frozenset[str] | None:
    """``?events=a,b`` lower-cased; None (everything) when absent, empty or ``*``."""
    names = frozenset(p.strip().lower() for p in (raw or "").split(",") if p.strip())
    return None if not names or "*" in names else names


@dataclass
class Filter:
    tenant: Tenant
    events: frozenset[str] | None = None
    subscriptions: set[Subscription] = field(default_factory=set)

    @classmethod
    def from_query(cls, tenant: Tenant, query: Mapping[str, str]) -> Filter:
        """From ``queue``, ``job_id`` and ``events`` query parameters (validated)."""
        flt = cls(tenant, parse_events(query.get("events")))
        queue, job_id = query.get("queue") or None, query.get("job_id") or None
        if queue is not None:
            check_queue(tenant, queue)
        if job_id is not None:
            check_job_id(job_id)
        if queue or job_id:
            flt.subscriptions.add(Subscription(queue, job_id))
        return flt

    @property
    def scoped(self) -> bool:
        return self.tenant.queues is not None

    def subscribe(self, queue: str | None, job_id: str | None) -> None:
        if queue is not None:
            check_queue(self.tenant, queue)
        if job_id is not None:
            check_job_id(job_id)
        self.subscriptions.add(Subscription(queue, job_id))

    def unsubscribe(self, queue: str | None, job_id: str | None) -> None:
        """Drop the matching subscription; with neither field, drop them all."""
        if queue is None and job_id is None:
            self.subscriptions.clear()
        else:
            self.subscriptions.discard(Subscription(queue, job_id))

    def envelopes(self, event: Event) -> list[Envelope]:
        """The envelopes of ``event`` this connection may and wants to see."""
        if event.org_id != self.tenant.org_id:
            return []
        if self.scoped and (event.queue is None or not self.tenant.allows(event.queue)):
            return []
        if self.subscriptions and not any(
            s.matches(event.queue, event.job_id) for s in self.subscriptions
        ):
            return []
        return [
            e
            for e in event.envelopes
            if not (self.scoped and e.type in WORKER_TYPES)
            and (self.events is None or e.filter_name in self.events)
        ]

    def wants(self, envelope: Envelope) -> bool:
        """For envelopes made here (Ping, QueueStats): only the event-name filter applies."""
        return self.events is None or envelope.filter_name in self.events
