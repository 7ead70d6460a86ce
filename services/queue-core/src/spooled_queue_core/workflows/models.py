"""What a workflow create asks for, and the checks that run before anything is stored.

:func:`problems` is pure (no I/O): a bad request is refused whole, with one
clear message, before the transaction opens, so nothing is ever half-stored.
Unit tests: ``tests/unit/test_workflow_graph.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from spooled_queue_core.jobs.models import NewJob

#: Upstream's cap on jobs per workflow (API.md §9).
MAX_JOBS = 100
MAX_NAME = 255
MAX_DESCRIPTION = 1000
MODES = ("all", "any")
#: Workflow statuses (the DB CHECK ``workflows_status_valid`` holds the same list).
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")
KEY_RULE = "must be 1-100 characters of letters, digits, '_' or '-'"


@dataclass(frozen=True, slots=True)
class WorkflowJob:
    """One job of a workflow, named by ``key`` within it. None = the queue's default."""

    key: str
    queue_name: str
    #: JSON text ("null" for an empty document).
    payload: str = "null"
    #: Keys of jobs in the same workflow this one waits for.
    depends_on: tuple[str, ...] = ()
    #: "all": every dependency completed; "any": at least one.
    dependency_mode: str = "all"
    priority: int = 0
    max_retries: int | None = None
    timeout_seconds: int | None = None
    expires_at: datetime | None = None

    def problem(self) -> str | None:
        if not _KEY.fullmatch(self.key):
            return f"key {KEY_RULE}"
        if self.dependency_mode not in MODES:
            return "dependency_mode must be 'all' or 'any'"
        return NewJob(
            self.queue_name,
            priority=self.priority,
            max_retries=self.max_retries,
            timeout_seconds=self.timeout_seconds,
        ).problem()


@dataclass(frozen=True, slots=True)
class NewWorkflow:
    name: str
    jobs: tuple[WorkflowJob, ...]
    description: str | None = None
    #: JSON text or None.
    metadata: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a workflow is refused: the message, and structured details for the client."""

    message: str
    details: dict[str, object] = field(default_factory=dict)


def problems(wf: NewWorkflow) -> Problem | None:
    """The first reason to refuse ``wf``, or None when it may be stored."""
    if not 0 < len(wf.name) <= MAX_NAME:
        return Problem(f"name must be 1-{MAX_NAME} characters")
    if wf.description is not None and len(wf.description) > MAX_DESCRIPTION:
        return Problem(f"description must be at most {MAX_DESCRIPTION} characters")
    if not wf.jobs:
        return Problem("A workflow must contain at least one job")
    if len(wf.jobs) > MAX_JOBS:
        return Problem(
            f"A workflow can contain at most {MAX_JOBS} jobs (got {len(wf.jobs)})",
            {"max_jobs": MAX_JOBS, "jobs": len(wf.jobs)},
        )
    for i, job in enumerate(wf.jobs):
        problem = job.problem()
        if problem:
            return Problem(f"jobs[{i}].{problem}", {"index": i, "key": job.key})
    return _graph_problem(wf.jobs)


def _graph_problem(jobs: Sequence[WorkflowJob]) -> Problem | None:
    seen: set[str] = set()
    for job in jobs:
        if job.key in seen:
            return Problem(f"Duplicate job key '{job.key}' in workflow", {"key": job.key})
        seen.add(job.key)
    for job in jobs:
        for dep in job.depends_on:
            if dep not in seen:
                return Problem(
                    f"Job '{job.key}' depends on unknown job '{dep}'",
                    {"key": job.key, "depends_on": dep},
                )
    cycle = find_cycle({job.key: job.depends_on for job in jobs})
    if cycle:
        return Problem(
            "Circular dependency detected in workflow: " + " -> ".join(cycle), {"cycle": cycle}
        )
    return None


def find_cycle(graph: dict[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a closed path (``[a, b, a]``), or None for a DAG.

    Iterative depth-first search (no recursion limit at any size), in key
    order so the answer is deterministic.
    """
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(graph[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(graph.get(nxt, ())))
    return None


def edges(jobs: Sequence[WorkflowJob], ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(child id, parent id, mode) per ``depends_on`` entry, repeats dropped."""
    by_key = {job.key: job_id for job, job_id in zip(jobs, ids, strict=True)}
    out: list[tuple[str, str, str]] = []
    for job, job_id in zip(jobs, ids, strict=True):
        for dep in dict.fromkeys(job.depends_on):
            out.append((job_id, by_key[dep], job.dependency_mode))
    return out


@dataclass(frozen=True, slots=True)
class CreatedWorkflow:
    workflow_id: str
    #: (key, job id) in the order of the request.
    job_ids: list[tuple[str, str]]
    status: str
