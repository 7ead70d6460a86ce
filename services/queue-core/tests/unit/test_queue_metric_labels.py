"""Bounding the ``queue`` label: first-come names for counters, top-N folding for gauges."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Histogram
from spooled_queue_core import metrics
from spooled_queue_core.queue_labels import OTHER, QueueLabels
from spooled_queue_core.queue_stats.snapshot import QueueBacklog, fold, from_rows


class TestQueueLabels:
    def test_admits_names_up_to_the_limit_then_answers_other(self) -> None:
        label = QueueLabels(2)
        assert [label("a"), label("b"), label("c"), label("a")] == ["a", "b", OTHER, "a"]

    def test_a_name_keeps_its_value_when_the_limit_shrinks(self) -> None:
        label = QueueLabels(3)
        label("a")
        label.configure(0)
        assert (label("a"), label("new")) == ("a", OTHER)

    def test_concurrent_first_sightings_never_exceed_the_limit(self) -> None:
        label = QueueLabels(10)
        seen: list[str] = []
        threads = [
            threading.Thread(target=lambda i=i: seen.append(label(f"q{i}"))) for i in range(100)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({v for v in seen if v != OTHER}) == 10
        assert seen.count(OTHER) == 90


class TestFold:
    def test_keeps_the_deepest_and_sums_the_rest_into_other(self) -> None:
        queues = [
            QueueBacklog("small", pending=1, max_age_secs=900.0),
            QueueBacklog("big", pending=50, processing=5),
            QueueBacklog("dlq-heavy", deadletter=40),
            QueueBacklog("tiny", processing=2, deadletter=1, max_age_secs=5.0),
        ]
        folded = fold(queues, 2)
        assert [q.queue for q in folded] == ["big", "dlq-heavy", OTHER]
        # Totals survive the fold, and the oldest job is still the oldest.
        assert folded[-1] == QueueBacklog(OTHER, 1, 2, 1, 900.0)
        assert sum(q.pending for q in folded) == sum(q.pending for q in queues)

    def test_ties_break_by_name_so_the_choice_is_stable(self) -> None:
        queues = [QueueBacklog("b", pending=1), QueueBacklog("a", pending=1)]
        assert [q.queue for q in fold(queues, 1)] == ["a", OTHER]

    def test_nothing_is_folded_under_the_limit(self) -> None:
        queues = [QueueBacklog("a", pending=1)]
        assert fold(queues, 5) == tuple(queues)

    def test_a_queue_named_like_the_fold_target_shares_its_series(self) -> None:
        queues = [QueueBacklog(OTHER, pending=9), QueueBacklog("x", pending=1), QueueBacklog("y")]
        folded = fold(queues, 2)
        assert [q.queue for q in folded] == ["x", OTHER]
        assert folded[-1].pending == 9

    def test_rows_without_queues_still_carry_the_fleet(self) -> None:
        row = {"workers_active": 3, "workers_healthy": 2, "queue_name": None, "pending": None,
               "processing": None, "deadletter": None, "max_age_secs": None}  # fmt: skip
        snap = from_rows([row], 10)
        assert (snap.queues, snap.workers_active, snap.workers_healthy) == ((), 3, 2)


class TestObserve:
    """The hot-path helpers, on rows shaped like the claim/complete/fail statements'."""

    def test_wait_starts_when_the_job_became_runnable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        registry = CollectorRegistry()
        wait = Histogram("w_seconds", "w", ["queue"], buckets=(1, 10, 100), registry=registry)
        monkeypatch.setattr(metrics, "JOB_WAIT", wait)
        monkeypatch.setattr(metrics, "QUEUE_LABEL", QueueLabels(5))
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        metrics.observe_claimed(
            [
                # Enqueued at t0, claimed 5 s later.
                {"queue_name": "q", "created_at": t0, "scheduled_at": None,
                 "started_at": t0 + timedelta(seconds=5)},
                # A retry due at t0 + 60 s, claimed 2 s after that.
                {"queue_name": "q", "created_at": t0, "scheduled_at": t0 + timedelta(seconds=60),
                 "started_at": t0 + timedelta(seconds=62)},
            ]
        )  # fmt: skip
        assert registry.get_sample_value("w_seconds_sum", {"queue": "q"}) == 7.0
        assert registry.get_sample_value("w_seconds_bucket", {"queue": "q", "le": "1.0"}) == 0
        assert registry.get_sample_value("w_seconds_bucket", {"queue": "q", "le": "10.0"}) == 2
