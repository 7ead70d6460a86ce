"""Workflow JSON as the official SDK reads it (routes/workflows.py rendering, no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from spooled.resources.workflows import jobs_from_workflow_detail
from spooled.types.workflows import WorkflowResponse
from spooled_gateway.routes import workflows as routes
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

T0 = Timestamp(seconds=1_767_225_600)  # 2026-01-01T00:00:00Z


def _roundtrip(doc: Any) -> Any:
    return orjson.loads(orjson.dumps(doc))


def _workflow(**kw: Any) -> pb.Workflow:
    fields: dict[str, Any] = {
        "id": "wf1",
        "organization_id": "org",
        "name": "etl",
        "status": "running",
        "total_jobs": 4,
        "completed_jobs": 1,
        "failed_jobs": 1,
        "cancelled_jobs": 1,
        "created_at": T0,
    }
    fields.update(kw)
    return pb.Workflow(**fields)


def test_workflow_response() -> None:
    doc = _roundtrip(routes.workflow_json(_workflow(metadata=b'{"a":1}')))
    assert doc["progress_percent"] == 25.0
    assert (doc["description"], doc["started_at"], doc["metadata"]) == (None, None, {"a": 1})
    assert doc["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert WorkflowResponse.model_validate(doc).failed_jobs == 1


def test_empty_workflow_has_zero_progress() -> None:
    assert routes.workflow_json(_workflow(total_jobs=0, completed_jobs=0))["progress_percent"] == 0


def test_detail_progress_jobs_and_edges() -> None:
    jobs = [
        pb.Job(id="a", queue_name="q", status="completed", timeout_seconds=60, result=b"[1]"),
        pb.Job(
            id="b",
            queue_name="q",
            status="deadletter",
            last_error="boom",
            completed_at=T0,
            retry_count=3,
        ),
        pb.Job(id="c", queue_name="q2", status="processing", tags=b'{"t":1}'),
        pb.Job(id="d", queue_name="q", status="pending", retry_count=1, scheduled_at=T0),
        pb.Job(id="e", queue_name="q", status="cancelled"),
    ]
    detail = pb.WorkflowDetail(
        workflow=_workflow(),
        jobs=jobs,
        dependencies=[
            pb.DependencyEdge(parent_job_id="a", child_job_id="b", dependency_type="all")
        ],
        job_keys={"a": "extract", "b": "load"},
    )
    doc = _roundtrip(routes.detail_json(detail))
    assert doc["progress"] == {
        "total": 5,
        "completed": 1,
        "failed": 2,
        "pending": 1,
        "processing": 1,
    }
    a, b, c, d, _e = doc["jobs"]
    assert (a["key"], a["timeout_ms"], a["result"], a["error"], a["failed_at"]) == (
        "extract",
        60_000,
        [1],
        None,
        None,
    )
    assert b["error"] == {"type": "JobError", "message": "boom", "stack": None}
    assert (b["failed_at"], b["attempt"]) == ("2026-01-01T00:00:00.000000Z", 3)
    assert (c["key"], c["queue"], c["metadata"]) == (None, "q2", {"t": 1})
    assert d["next_retry_at"] == "2026-01-01T00:00:00.000000Z"
    assert doc["dependencies"] == [
        {"parent_job_id": "a", "child_job_id": "b", "dependency_type": "all"}
    ]
    parsed = jobs_from_workflow_detail(doc)
    assert [(j.id, j.key, j.depends_on, j.timeout_seconds) for j in parsed[:2]] == [
        ("a", "extract", None, 60),
        ("b", "load", ["a"], 1),
    ]
    assert parsed[1].error is not None and parsed[1].error.message == "boom"
    wf = WorkflowResponse.model_validate(doc)
    assert (wf.total_jobs, wf.completed_jobs, wf.failed_jobs) == (5, 1, 2)
