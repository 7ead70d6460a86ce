"""Workflow and dependency messages ↔ domain objects (see ``spooled_queue_core.wire``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spooled_common import timefmt
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_queue_core import wire
from spooled_queue_core.workflows.dependencies import Added, JobDependencies
from spooled_queue_core.workflows.models import CreatedWorkflow, NewWorkflow, WorkflowJob
from spooled_queue_core.workflows.service import WorkflowDetail


def new_workflow(req: pb.CreateWorkflowRequest) -> NewWorkflow:
    return NewWorkflow(
        name=req.name,
        description=wire.optional(req, "description"),
        metadata=wire.json_param(req.metadata),
        jobs=tuple(_job(spec) for spec in req.jobs),
    )


def _job(spec: pb.WorkflowJobSpec) -> WorkflowJob:
    return WorkflowJob(
        key=spec.key,
        queue_name=spec.queue_name,
        payload=wire.json_param(spec.payload) or "null",
        depends_on=tuple(spec.depends_on),
        dependency_mode=spec.dependency_mode or "all",
        priority=spec.priority,
        max_retries=wire.optional(spec, "max_retries"),
        timeout_seconds=wire.optional(spec, "timeout_seconds"),
        expires_at=timefmt.from_ts(spec, "expires_at"),
    )


def created(c: CreatedWorkflow) -> pb.CreateWorkflowResponse:
    return pb.CreateWorkflowResponse(
        workflow_id=c.workflow_id,
        job_ids=[pb.WorkflowJobId(key=k, job_id=j) for k, j in c.job_ids],
        status=c.status,
    )


def workflow(row: Mapping[str, Any]) -> pb.Workflow:
    fields = {
        "id": row["id"],
        "organization_id": row["organization_id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "total_jobs": row["total_jobs"],
        "completed_jobs": row["completed_jobs"],
        "failed_jobs": row["failed_jobs"],
        "cancelled_jobs": row["cancelled_jobs"],
        "metadata": wire.json_bytes(row["metadata"]),
        "created_at": wire.ts(row["created_at"]),
        "started_at": wire.ts(row["started_at"]),
        "completed_at": wire.ts(row["completed_at"]),
    }
    return pb.Workflow(**{k: v for k, v in fields.items() if v is not None})


def detail(d: WorkflowDetail) -> pb.WorkflowDetail:
    return pb.WorkflowDetail(
        workflow=workflow(d.workflow),
        jobs=[wire.job(r) for r in d.jobs],
        dependencies=[
            pb.DependencyEdge(
                parent_job_id=e["parent_job_id"],
                child_job_id=e["child_job_id"],
                dependency_type=e["dependency_type"],
            )
            for e in d.edges
        ],
        job_keys={r["id"]: r["workflow_key"] for r in d.jobs if r["workflow_key"]},
    )


def dependencies(d: JobDependencies) -> pb.JobDependencies:
    return pb.JobDependencies(
        job_id=d.job_id,
        dependencies=[_dep(r) for r in d.dependencies],
        dependents=[_dep(r) for r in d.dependents],
        dependency_mode=d.dependency_mode,
        dependencies_met=d.dependencies_met,
    )


def _dep(row: Mapping[str, Any]) -> pb.JobDependency:
    return pb.JobDependency(
        job_id=row["job_id"], queue_name=row["queue_name"], status=row["status"]
    )


def added(a: Added) -> pb.AddJobDependenciesResponse:
    return pb.AddJobDependenciesResponse(
        job_id=a.job_id,
        dependencies_added=a.dependencies_added,
        dependencies_met=a.dependencies_met,
        status=a.status,
    )
