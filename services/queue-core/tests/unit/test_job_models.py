from __future__ import annotations

import pytest
from spooled_queue_core import paging
from spooled_queue_core.jobs import repository
from spooled_queue_core.jobs.models import NewJob


class TestNewJobProblem:
    def test_valid(self) -> None:
        assert NewJob("q", priority=100, max_retries=0, timeout_seconds=86400).problem() is None

    @pytest.mark.parametrize(
        "job",
        [
            NewJob(""),
            NewJob("q" * 256),
            NewJob("q", priority=-101),
            NewJob("q", max_retries=101),
            NewJob("q", timeout_seconds=0),
            NewJob("q", idempotency_key="k" * 256),
        ],
    )
    def test_out_of_range(self, job: NewJob) -> None:
        assert job.problem()


class TestClamp:
    @pytest.mark.parametrize(
        ("value", "expected"), [(0, 30), (-1, 30), (1, 5), (7, 7), (5000, 3600)]
    )
    def test_clamp(self, value: int, expected: int) -> None:
        assert paging.clamp(value, 5, 3600, default=30) == expected


class TestOrdering:
    def test_whitelisted_columns_only(self) -> None:
        assert "ORDER BY priority ASC, id ASC" in repository.list_query("priority", "ASC")
        q = repository.list_query("payload; DROP TABLE x", "sideways")
        assert "ORDER BY created_at DESC, id DESC" in q and "DROP" not in q

    def test_history_direction(self) -> None:
        assert "created_at DESC, id DESC" in repository.history_query("desc")
        assert "created_at ASC, id ASC" in repository.history_query("")
