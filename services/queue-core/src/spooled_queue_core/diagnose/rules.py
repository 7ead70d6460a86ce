"""From facts to blockers: pure functions, no I/O (tests/unit/test_diagnose_rules.py).

Order of the answer (index 0 is "the" blocker):

1. a terminal state, or a running job's lease: nothing else matters then;
2. what needs a person: expired, a dependency that failed, a paused queue;
3. what resolves by itself: a dependency still running, a future ``scheduled_at``;
4. who would run it: a plan's worker cap, no worker polling the queue;
5. nothing holds it back: READY with its position in line.

Every predicate here mirrors one of ``claim_jobs`` (db/queries.sql): status
pending/scheduled, ``scheduled_at <= now``, not expired, ``dependencies_met``,
queue enabled; then a worker must poll the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from spooled_common import timefmt

from spooled_queue_core.diagnose import models as m
from spooled_queue_core.diagnose.models import Blocker, Facts, Policy

#: Dependency statuses that will never turn into "completed" on their own.
_DEAD_END = frozenset({"failed", "deadletter", "cancelled"})


def diagnose(facts: Facts, policy: Policy) -> list[Blocker]:
    """Every blocker that applies, the one to act on first at index 0."""
    status = facts.job["status"]
    if status in _TERMINAL:
        return [_TERMINAL[status](facts)]
    if status == "processing":
        return [_lease(facts, policy)]
    found: list[Blocker] = []
    for rule in _WAITING_RULES:
        blocker = rule(facts, policy)
        if blocker is not None:
            found.append(blocker)
    return found or [_ready(facts)]


# -- formatting ---------------------------------------------------------------------


def _iso(dt: datetime | None) -> str | None:
    return timefmt.iso(dt)


def _secs(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds()))


def span(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``, ``"2 h 10 min"``, ``"3 d 4 h"``: for messages."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 >= 60 else f"{s // 3600} h"
    return f"{s // 86400} d {s % 86400 // 3600} h" if s % 86400 >= 3600 else f"{s // 86400} d"


def _job_ref(facts: Facts) -> dict[str, Any]:
    j = facts.job
    return {"job_id": j["id"], "queue_name": j["queue_name"]}


# -- terminal states ----------------------------------------------------------------


def _completed(facts: Facts) -> Blocker:
    j = facts.job
    details = {
        "completed_at": _iso(j["completed_at"]),
        "worker_id": j["assigned_worker_id"],
        "duration_ms": None,
    }
    text = f"Job completed at {_iso(j['completed_at'])}"
    if j["started_at"] and j["completed_at"]:
        ms = round((j["completed_at"] - j["started_at"]).total_seconds() * 1000)
        details["duration_ms"] = ms
        text += f" after running {ms} ms"
    if j["assigned_worker_id"]:
        text += f" on worker {j['assigned_worker_id']}"
    return Blocker(m.COMPLETED, text + "; it will not run again.", details)


def _dead_lettered(facts: Facts) -> Blocker:
    j = facts.job
    reason = facts.dead_letter_reason or j["last_error"] or "no error recorded"
    return Blocker(
        m.DEAD_LETTERED,
        f"Job was dead-lettered at {_iso(j['completed_at'])} after {j['retry_count']} "
        f"of {j['max_retries']} retries: {reason}. Retry it (POST /api/v1/jobs/{j['id']}/retry "
        "or the DLQ retry) to run it again.",
        {
            "reason": reason,
            "last_error": j["last_error"],
            "retry_count": j["retry_count"],
            "max_retries": j["max_retries"],
            "dead_lettered_at": _iso(j["completed_at"]),
        },
    )


def _failed(facts: Facts) -> Blocker:
    j = facts.job
    return Blocker(
        m.FAILED,
        f"Job failed: {j['last_error'] or 'no error recorded'}. Retry it to run it again.",
        {"last_error": j["last_error"], "retry_count": j["retry_count"]},
    )


def _cancelled(facts: Facts) -> Blocker:
    j = facts.job
    event_details = (facts.last_event or {}).get("details") or {}
    reason = event_details.get("reason") if isinstance(event_details, dict) else None
    text = f"Job was cancelled at {_iso(j['completed_at'])}"
    text += f": {reason}." if reason else "; cancelled jobs never run."
    return Blocker(m.CANCELLED, text, {"cancelled_at": _iso(j["completed_at"]), "reason": reason})


_TERMINAL: dict[str, Callable[[Facts], Blocker]] = {
    "completed": _completed,
    "deadletter": _dead_lettered,
    "failed": _failed,
    "cancelled": _cancelled,
}


# -- running --------------------------------------------------------------------------


def _lease(facts: Facts, policy: Policy) -> Blocker:
    j, now, holder = facts.job, facts.now, facts.lease_holder
    until = j["lease_expires_at"]
    worker = j["assigned_worker_id"]
    details: dict[str, Any] = {
        "worker_id": worker,
        "lease_expires_at": _iso(until),
        "started_at": _iso(j["started_at"]),
        "running_secs": _secs(now - j["started_at"]) if j["started_at"] else None,
        "worker_status": holder.status if holder else None,
        "worker_hostname": holder.hostname if holder else None,
        "worker_last_heartbeat": _iso(holder.last_heartbeat) if holder else None,
    }
    retry_note = (
        f"it will be retried (attempt {j['retry_count'] + 2} of {j['max_retries'] + 1})"
        if j["retry_count"] < j["max_retries"]
        else "it has no retries left and will be dead-lettered"
    )
    if until <= now:
        rescue = _iso(now + timedelta(seconds=policy.reaper_interval_secs))
        details["rescue_by"] = rescue
        return Blocker(
            m.LEASE_EXPIRED,
            f"The lease of worker {worker} expired at {_iso(until)} "
            f"({span((now - until).total_seconds())} ago); the reaper takes the job back "
            f"by {rescue} and {retry_note}.",
            details,
        )
    lost = (
        holder is None
        or holder.status == "offline"
        or ((now - holder.last_heartbeat).total_seconds() > policy.seen_window_secs)
    )
    if lost:
        rescue_at = _rescue_time(facts, policy)
        details["rescue_by"] = _iso(rescue_at)
        last = (
            f"was last heard from {span((now - holder.last_heartbeat).total_seconds())} ago"
            if holder
            else "is not registered"
        )
        return Blocker(
            m.LEASE_HOLDER_LOST,
            f"Worker {worker} holds the lease until {_iso(until)} but {last}; "
            f"the job is taken back by {_iso(rescue_at)} and {retry_note}.",
            details,
        )
    return Blocker(
        m.LEASED,
        f"Running on worker {worker}"
        + (f" ({holder.hostname})" if holder and holder.hostname else "")
        + f" under a lease until {_iso(until)} (in {span((until - now).total_seconds())}); "
        "the worker renews it while it works.",
        details,
    )


def _rescue_time(facts: Facts, policy: Policy) -> datetime:
    """When the reaper frees the job: at lease expiry, or when the worker is declared offline."""
    until: datetime = facts.job["lease_expires_at"]
    holder = facts.lease_holder
    if holder is not None and holder.status != "offline":
        until = min(until, holder.last_heartbeat + timedelta(seconds=policy.stale_worker_secs))
    return max(until, facts.now) + timedelta(seconds=policy.reaper_interval_secs)


# -- waiting: what needs a person ----------------------------------------------------


def _expired(facts: Facts, policy: Policy) -> Blocker | None:
    expires = facts.job["expires_at"]
    if expires is None or expires > facts.now:
        return None
    return Blocker(
        m.EXPIRED,
        f"Job expired at {_iso(expires)} ({span((facts.now - expires).total_seconds())} ago) "
        "before any worker claimed it; expired jobs are never handed out. Create a new job "
        "to run this work.",
        {"expires_at": _iso(expires)},
    )


def _unmet(facts: Facts) -> list[m.Dependency]:
    if facts.job["dependencies_met"]:
        return []
    return [d for d in facts.dependencies if d.status != "completed"]


def _dependency_failed(facts: Facts, policy: Policy) -> Blocker | None:
    dead = [d for d in _unmet(facts) if d.status in _DEAD_END]
    if not dead:
        return None
    # With mode "any", one dead branch is not fatal while another may still complete.
    if facts.job["dependency_mode"] == "any" and len(dead) < len(_unmet(facts)):
        return None
    first = dead[0]
    return Blocker(
        m.DEPENDENCY_FAILED,
        f"Waiting on job {first.job_id}, which ended {first.status}: this job cannot start "
        f"unless that one is retried and completes.",
        {"dependencies": [_dep(d) for d in dead], "mode": facts.job["dependency_mode"]},
    )


def _paused(facts: Facts, policy: Policy) -> Blocker | None:
    j = facts.job
    if not j["queue_paused"]:
        return None
    paused_at = _parse_time(j["paused_at"])
    text = f"Queue '{j['queue_name']}' is paused"
    if paused_at is not None:
        text += f" since {_iso(paused_at)}"
    if j["paused_reason"]:
        text += f" ({j['paused_reason']})"
    return Blocker(
        m.QUEUE_PAUSED,
        text + f"; resume it (POST /api/v1/queues/{j['queue_name']}/resume) to release its jobs.",
        {"queue_name": j["queue_name"], "paused_at": _iso(paused_at), "reason": j["paused_reason"]},
    )


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


# -- waiting: what resolves by itself ----------------------------------------------


def _waiting_on_dependency(facts: Facts, policy: Policy) -> Blocker | None:
    if facts.job["dependencies_met"]:
        return None
    unmet = _unmet(facts)
    live = [d for d in unmet if d.status not in _DEAD_END]
    if unmet and not live:
        return None  # every unmet one is a dead end: DEPENDENCY_FAILED says it
    if not live:
        # Done (or gone), flag not flipped yet: the reaper's unblock sweep releases it.
        known = "have completed" if facts.dependencies else "are no longer recorded"
        return Blocker(
            m.WAITING_ON_DEPENDENCY,
            f"Its dependencies {known}; the job is released by the next unblock sweep "
            f"(within {span(policy.reaper_interval_secs)}).",
            {"dependencies": [_dep(d) for d in facts.dependencies], "mode": _mode(facts)},
        )
    unmet = live
    first = unmet[0]
    more = f" and {len(unmet) - 1} more" if len(unmet) > 1 else ""
    need = "any one of them" if _mode(facts) == "any" else "all of them"
    return Blocker(
        m.WAITING_ON_DEPENDENCY,
        f"Waiting on job {first.job_id} ({first.status}, queue '{first.queue_name}'){more}; "
        f"it starts once {need} completed.",
        {"dependencies": [_dep(d) for d in unmet], "mode": _mode(facts)},
    )


def _mode(facts: Facts) -> str:
    return str(facts.job["dependency_mode"] or "all")


def _dep(d: m.Dependency) -> dict[str, str]:
    return {"job_id": d.job_id, "queue_name": d.queue_name, "status": d.status, "via": d.via}


def _scheduled(facts: Facts, policy: Policy) -> Blocker | None:
    j = facts.job
    at = j["scheduled_at"]
    if at is None or at <= facts.now:
        return None
    wait = span((at - facts.now).total_seconds())
    details = {"scheduled_at": _iso(at), "seconds_until": _secs(at - facts.now)}
    if j["retry_count"] > 0:
        details.update(retry_count=j["retry_count"], last_error=j["last_error"])
        return Blocker(
            m.RETRY_BACKOFF,
            f"Backing off after failed attempt {j['retry_count']} ({j['last_error']}); "
            f"retry {j['retry_count']} of {j['max_retries']} runs at {_iso(at)} (in {wait}).",
            details,
        )
    return Blocker(m.SCHEDULED, f"Scheduled for later: runs at {_iso(at)} (in {wait}).", details)


# -- who would run it ------------------------------------------------------------------


def _plan_limit(facts: Facts, policy: Policy) -> Blocker | None:
    cap, w = facts.plan.max_workers, facts.workers
    # Only when the cap is used up by workers of *other* queues: a silent
    # worker of this queue holds a slot it could come back to.
    if cap is None or w.registered_workers > 0 or w.org_live_workers < cap:
        return None
    plan = facts.plan.tier or "current"
    text = (
        f"No worker serves queue '{facts.job['queue_name']}', and the organization already "
        f"runs {w.org_live_workers} of the {cap} workers its {plan} plan allows: stop a worker "
        "on another queue"
    )
    text += f" or upgrade to {facts.plan.upgrade_to}." if facts.plan.upgrade_to else "."
    return Blocker(
        m.PLAN_LIMIT,
        text,
        {
            "resource": "workers",
            "current": w.org_live_workers,
            "limit": cap,
            "plan": facts.plan.tier,
            "upgrade_to": facts.plan.upgrade_to,
        },
    )


def _no_worker(facts: Facts, policy: Policy) -> Blocker | None:
    w, queue = facts.workers, facts.job["queue_name"]
    if w.live_workers > 0:
        return None
    seen = w.last_seen
    if seen is not None and (facts.now - seen).total_seconds() <= policy.seen_window_secs:
        return None  # a REST worker claimed from this queue just now
    details: dict[str, Any] = {
        "queue_name": queue,
        "last_seen_at": _iso(seen),
        "seconds_since_seen": _secs(facts.now - seen) if seen else None,
        "draining_workers": w.draining_workers,
    }
    if seen is None:
        text = f"No worker has ever polled queue '{queue}'"
    else:
        text = f"No worker seen on queue '{queue}' for {span((facts.now - seen).total_seconds())}"
    if w.draining_workers:
        text += f" ({w.draining_workers} draining, taking no new jobs)"
    return Blocker(m.NO_WORKER, text + f"; start a worker for '{queue}'.", details)


_WAITING_RULES: tuple[Callable[[Facts, Policy], Blocker | None], ...] = (
    _expired,
    _dependency_failed,
    _paused,
    _waiting_on_dependency,
    _scheduled,
    _plan_limit,
    _no_worker,
)


# -- ready -------------------------------------------------------------------------------


def _ready(facts: Facts) -> Blocker:
    w, queue = facts.workers, facts.job["queue_name"]
    position = facts.ahead + 1
    text = (
        f"Ready: next in line on queue '{queue}'"
        if position == 1
        else f"Ready: position {position} in line on queue '{queue}' "
        f"({facts.ahead} job{'s' if facts.ahead != 1 else ''} will be claimed first)"
    )
    if w.live_workers and w.slots and w.busy_slots >= w.slots:
        text += f"; all {w.live_workers} live workers are busy ({w.busy_slots}/{w.slots} slots)"
    elif w.live_workers:
        text += f"; {w.live_workers} live worker{'s' if w.live_workers != 1 else ''} polling"
    return Blocker(
        m.READY,
        text + ".",
        {
            "position": position,
            "ahead": facts.ahead,
            "live_workers": w.live_workers,
            "slots": w.slots,
            "busy_slots": w.busy_slots,
        },
    )
