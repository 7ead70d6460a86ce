"""Route order: literal ``/jobs/...`` paths must win over ``/jobs/{job_id}``.

Uses the real app (routers, middleware, error handlers) with a recording
stand-in for queue-core, so it shows which RPC each path reaches; the same
paths run against a real queue-core in the other ``test_jobs*``/``test_dlq*``
modules. Guards the ordering documented in ``routes/jobs.py`` and ``routes/dlq.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from spooled_gateway.app import create_app
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.settings import GatewaySettings
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

REPLIES: dict[str, Any] = {
    "ListJobs": pb.JobList(),
    "GetJob": pb.Job(id="x"),
    "GetJobStats": pb.JobStats(),
    "BatchStatus": pb.JobList(),
    "RetryDeadLetters": pb.RetryDeadLettersResponse(),
    "PurgeDeadLetters": pb.PurgeDeadLettersResponse(),
    "CreateJobs": pb.CreateJobsResponse(),
    "ClaimJobs": pb.JobList(),
    "RetryJob": pb.Job(),
    "GetJobHistory": pb.JobHistory(),
    "DiagnoseJob": pb.Diagnosis(blockers=[pb.Blocker(code="READY", details=b"{}")]),
    "GetJobDependencies": pb.JobDependencies(),
    "AddJobDependencies": pb.AddJobDependenciesResponse(),
}


class RecordingCore:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def call(
        self, tenant: Any, method: str, request: Any, timeout: float | None = None
    ) -> Any:
        self.calls.append((method, request))
        return REPLIES[method]


@pytest.fixture
async def routed() -> AsyncIterator[tuple[httpx.AsyncClient, RecordingCore]]:
    app = create_app(GatewaySettings())
    core = RecordingCore()
    app.state.core = core  # no lifespan: nothing here reaches Postgres
    app.dependency_overrides[require_principal] = lambda: Principal("org", "key", (), "api_key")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway/api/v1"
    ) as client:
        yield client, core


@pytest.mark.parametrize(
    ("method", "path", "body", "rpc"),
    [
        ("GET", "/jobs/dlq", None, "ListJobs"),
        ("POST", "/jobs/dlq/retry", {}, "RetryDeadLetters"),
        ("POST", "/jobs/dlq/purge", {"confirm": True}, "PurgeDeadLetters"),
        ("GET", "/jobs/stats", None, "GetJobStats"),
        ("GET", "/jobs/status?ids=a", None, "BatchStatus"),
        ("POST", "/jobs/bulk", {"queue_name": "q", "jobs": [{"payload": 1}]}, "CreateJobs"),
        ("POST", "/jobs/claim", {"queue_name": "q", "worker_id": "w"}, "ClaimJobs"),
        ("GET", "/jobs/some-id", None, "GetJob"),
        ("POST", "/jobs/some-id/retry", None, "RetryJob"),
        ("GET", "/jobs/some-id/history", None, "GetJobHistory"),
        ("GET", "/jobs/some-id/diagnose", None, "DiagnoseJob"),
        ("GET", "/jobs/dlq/diagnose", None, "DiagnoseJob"),
        ("GET", "/jobs/some-id/dependencies", None, "GetJobDependencies"),
        ("POST", "/jobs/some-id/dependencies", {"depends_on": ["p"]}, "AddJobDependencies"),
    ],
)
async def test_each_path_reaches_its_rpc(
    routed: tuple[httpx.AsyncClient, RecordingCore], method: str, path: str, body: Any, rpc: str
) -> None:
    client, core = routed
    r = await client.request(method, path, json=body)
    assert r.status_code == 200, r.text
    assert [name for name, _ in core.calls] == [rpc]


async def test_dlq_list_asks_for_dead_letters_only(
    routed: tuple[httpx.AsyncClient, RecordingCore],
) -> None:
    client, core = routed
    await client.get("/jobs/dlq", params={"queue": "q", "limit": 500})
    [(_, request)] = core.calls
    assert list(request.statuses) == ["deadletter"]
    assert (request.queue_name, request.limit) == ("q", 100)


async def test_get_job_by_literal_looking_id(
    routed: tuple[httpx.AsyncClient, RecordingCore],
) -> None:
    client, core = routed
    await client.get("/jobs/dlqx")
    assert core.calls[0][1].job_id == "dlqx"


def test_openapi_lists_each_operation_once() -> None:
    spec = create_app(GatewaySettings()).openapi()
    paths = spec["paths"]
    assert set(paths["/api/v1/jobs/dlq"]) == {"get"}
    assert set(paths["/api/v1/jobs/{job_id}"]) == {"get", "delete"}
    operation_ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
