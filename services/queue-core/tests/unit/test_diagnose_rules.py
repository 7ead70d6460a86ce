"""Diagnosis rules on hand-made facts: order, dependency modes, wording helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from spooled_queue_core.diagnose import rules
from spooled_queue_core.diagnose.models import Dependency, Facts, Policy, QueueWorkers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(seen_window_secs=30, reaper_interval_secs=10, stale_worker_secs=120)
LIVE = QueueWorkers(live_workers=1, slots=5, busy_slots=0, last_heartbeat=NOW)


def job(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "j1",
        "queue_name": "q",
        "status": "pending",
        "retry_count": 0,
        "max_retries": 3,
        "last_error": None,
        "priority": 0,
        "created_at": NOW - timedelta(minutes=1),
        "scheduled_at": None,
        "started_at": None,
        "completed_at": None,
        "expires_at": None,
        "assigned_worker_id": None,
        "lease_expires_at": None,
        "parent_job_id": None,
        "dependency_mode": "all",
        "dependencies_met": True,
        "queue_paused": False,
        "paused_at": None,
        "paused_reason": None,
    }
    base.update(over)
    return base


def codes(facts: Facts) -> list[str]:
    return [b.code for b in rules.diagnose(facts, POLICY)]


def dep(job_id: str, status: str) -> Dependency:
    return Dependency(job_id, "q", status, "job_dependencies")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (7800, "2 h 10 min"),
        (86400, "1 d"),
        (100000, "1 d 3 h"),
    ],
)
def test_span(seconds: int, text: str) -> None:
    assert rules.span(seconds) == text


def test_everything_that_applies_is_listed_in_order() -> None:
    facts = Facts(
        job=job(
            expires_at=NOW - timedelta(seconds=1),
            queue_paused=True,
            scheduled_at=NOW + timedelta(hours=1),
        ),
        now=NOW,
    )
    assert codes(facts) == ["EXPIRED", "QUEUE_PAUSED", "SCHEDULED", "NO_WORKER"]


def test_any_mode_survives_one_dead_branch() -> None:
    facts = Facts(
        job=job(dependency_mode="any", dependencies_met=False),
        now=NOW,
        dependencies=[dep("a", "deadletter"), dep("b", "processing")],
        workers=LIVE,
    )
    blockers = rules.diagnose(facts, POLICY)
    assert [b.code for b in blockers] == ["WAITING_ON_DEPENDENCY"]
    assert "any one of them" in blockers[0].message
    assert [d["job_id"] for d in blockers[0].details["dependencies"]] == ["b"]


def test_all_mode_with_a_dead_branch_is_a_dead_end() -> None:
    facts = Facts(
        job=job(dependencies_met=False),
        now=NOW,
        dependencies=[dep("a", "cancelled"), dep("b", "completed")],
        workers=LIVE,
    )
    assert codes(facts) == ["DEPENDENCY_FAILED"]


def test_completed_dependencies_not_yet_flipped_wait_for_the_sweep() -> None:
    facts = Facts(
        job=job(dependencies_met=False), now=NOW, dependencies=[dep("a", "completed")], workers=LIVE
    )
    [blocker] = rules.diagnose(facts, POLICY)
    assert blocker.code == "WAITING_ON_DEPENDENCY" and "unblock sweep" in blocker.message


def test_ready_reports_busy_workers() -> None:
    busy = QueueWorkers(live_workers=2, slots=4, busy_slots=4, last_heartbeat=NOW)
    [blocker] = rules.diagnose(Facts(job=job(), now=NOW, workers=busy, ahead=3), POLICY)
    assert blocker.code == "READY" and blocker.details["position"] == 4
    assert "all 2 live workers are busy (4/4 slots)" in blocker.message


def test_garbage_paused_at_is_tolerated() -> None:
    facts = Facts(job=job(queue_paused=True, paused_at="not a time"), now=NOW, workers=LIVE)
    [blocker] = rules.diagnose(facts, POLICY)
    assert blocker.code == "QUEUE_PAUSED" and blocker.details["paused_at"] is None
