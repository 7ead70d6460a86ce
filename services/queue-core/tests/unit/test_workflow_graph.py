"""Workflow checks that run before anything is stored, and invariants of the workflow SQL."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from spooled_queue_core import db, wakeup
from spooled_queue_core.workflows import models
from spooled_queue_core.workflows.models import NewWorkflow, WorkflowJob
from spooled_queue_core.workflows.repository import Q


def wf(*jobs: WorkflowJob, name: str = "w") -> NewWorkflow:
    return NewWorkflow(name, tuple(jobs))


def job(key: str, *deps: str, **kw: object) -> WorkflowJob:
    return WorkflowJob(key, "q", depends_on=deps, **kw)  # type: ignore[arg-type]


class TestFindCycle:
    def test_dag_has_none(self) -> None:
        assert models.find_cycle({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}) is None

    def test_reports_the_closed_path(self) -> None:
        assert models.find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "c", "b", "a"]

    def test_self_loop(self) -> None:
        assert models.find_cycle({"a": ["a"]}) == ["a", "a"]

    def test_cycle_behind_a_shared_node(self) -> None:
        graph = {"a": [], "b": ["a", "c"], "c": ["d"], "d": ["c"]}
        assert models.find_cycle(graph) == ["c", "d", "c"]

    def test_long_chain_needs_no_recursion(self) -> None:
        graph = {f"k{i}": [f"k{i - 1}"] if i else [] for i in range(5000)}
        assert models.find_cycle(graph) is None
        graph["k0"] = ["k4999"]
        cycle = models.find_cycle(graph)
        assert cycle is not None and len(cycle) == 5001


class TestProblems:
    def test_valid_diamond(self) -> None:
        assert (
            models.problems(wf(job("a"), job("b", "a"), job("c", "a"), job("d", "b", "c"))) is None
        )

    @pytest.mark.parametrize(
        ("workflow", "message"),
        [
            (wf(job("a"), name=""), "name must be 1-255 characters"),
            (wf(job("a"), name="x" * 256), "name must be 1-255 characters"),
            (wf(), "A workflow must contain at least one job"),
            (wf(*(job(f"k{i}") for i in range(101))), "at most 100 jobs (got 101)"),
            (wf(job("a"), job("a")), "Duplicate job key 'a' in workflow"),
            (wf(job("a", "b")), "Job 'a' depends on unknown job 'b'"),
            (
                wf(job("a", "b"), job("b", "a")),
                "Circular dependency detected in workflow: a -> b -> a",
            ),
            (wf(job("a.b")), "jobs[0].key must be 1-100 characters"),
            (wf(job("k" * 101)), "jobs[0].key must be 1-100 characters"),
            (wf(job("a"), job("b", dependency_mode="most")), "jobs[1].dependency_mode"),
            (wf(job("a", priority=-101)), "jobs[0].priority must be between -100 and 100"),
            (wf(job("a", max_retries=101)), "jobs[0].max_retries"),
            (wf(job("a", timeout_seconds=0)), "jobs[0].timeout_seconds"),
        ],
    )
    def test_refused(self, workflow: NewWorkflow, message: str) -> None:
        problem = models.problems(workflow)
        assert problem is not None and message in problem.message

    def test_exactly_100_jobs_is_fine(self) -> None:
        assert models.problems(wf(*(job(f"k{i}") for i in range(100)))) is None

    def test_cycle_details_name_the_keys(self) -> None:
        problem = models.problems(wf(job("x", "y"), job("y", "x")))
        assert problem is not None and problem.details == {"cycle": ["x", "y", "x"]}


def test_edges_drop_repeats_and_carry_the_mode() -> None:
    jobs = (job("a"), job("b", "a", "a", dependency_mode="any"))
    assert models.edges(jobs, ["id-a", "id-b"]) == [("id-b", "id-a", "any")]


# -- SQL invariants ------------------------------------------------------------------------


def _migration() -> str:
    return resources.files(db.MIGRATIONS).joinpath("0002_workflows.sql").read_text()


def test_wake_channel_matches() -> None:
    """Triggers notify waiting claimers on the channel the Python listener uses."""
    m = re.search(r"wake_channel_v1\(\).*?SELECT '([^']+)'", _migration(), re.S)
    assert m is not None and m.group(1) == wakeup.CHANNEL


#: Scoped by the organization_id they write (and RLS WITH CHECK) or take as an argument.
_UNFILTERED_OK = {"insert_workflow", "insert_edges", "lock_org_workflows", "refresh_workflow"}


def test_every_workflow_query_filters_by_organization() -> None:
    missing = [
        name
        for name in Q.names()
        if name not in _UNFILTERED_OK
        and not re.search(r"organization_id\s*=\s*\$\d", getattr(Q, name))
    ]
    assert missing == []
