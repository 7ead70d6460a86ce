"""``/workflows`` and ``/jobs/{id}/dependencies`` end to end: gateway in-process → the
real queue-core process → real Postgres. Responses are also parsed with the official
SDK's models, as ``client.workflows`` would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from spooled.resources.workflows import jobs_from_workflow_detail
from spooled.types.workflows import (
    AddDependenciesResponse,
    CreateWorkflowResponse,
    JobWithDependencies,
    WorkflowResponse,
)

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

#: Bigger than the payload cap core_stack configures (64 KiB).
OVER_LIMIT = 70_000
TABLES = ("workflows", "jobs", "job_dependencies", "job_history", "outbox")


def diamond(mode: str = "all", b_retries: int | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "key": "b",
        "queue_name": "wf-bc",
        "payload": {"n": "b"},
        "depends_on": ["a"],
    }
    if b_retries is not None:
        b["max_retries"] = b_retries
    return {
        "name": "nightly etl",
        "description": "extract, two transforms, load",
        "metadata": {"owner": "data"},
        "jobs": [
            {"key": "a", "queue_name": "wf-a", "payload": {"n": "a"}},
            b,
            {"key": "c", "queue_name": "wf-bc", "payload": {"n": "c"}, "depends_on": ["a"]},
            {
                "key": "d",
                "queue_name": "wf-d",
                "payload": {"n": "d"},
                "depends_on": ["b", "c"],
                "dependency_mode": mode,
            },
        ],
    }


async def create(api: Api, body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    r = await api.client.post("/workflows", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    CreateWorkflowResponse.model_validate(doc)
    return doc["workflow_id"], {m["key"]: m["job_id"] for m in doc["job_ids"]}


async def run(api: Api, queue: str, expect: list[str], *, fail: bool = False) -> None:
    """Claim everything ready on ``queue`` (must be exactly ``expect``); settle it."""
    jobs = await api.claim(queue, limit=10)
    assert sorted(j["id"] for j in jobs) == sorted(expect)
    for j in jobs:
        path = f"/jobs/{j['id']}/{'fail' if fail else 'complete'}"
        body = {"worker_id": "w1", "lease_id": j["lease_id"]}
        body.update({"error": "boom"} if fail else {"result": {"ok": j["id"]}})
        r = await api.client.post(path, json=body)
        assert r.status_code == 200, r.text


async def detail(api: Api, wf_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/workflows/{wf_id}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    WorkflowResponse.model_validate(doc)
    return doc


async def counts(api: Api) -> dict[str, int]:
    return {t: await api.count(t) for t in TABLES}


class TestCreateAndRead:
    async def test_create_get_list_shapes(self, api: Api) -> None:
        wf_id, ids = await create(api, diamond())
        assert list(ids) == ["a", "b", "c", "d"]
        doc = await detail(api, wf_id)
        assert {k: doc[k] for k in ("id", "name", "description", "status", "metadata")} == {
            "id": wf_id,
            "name": "nightly etl",
            "description": "extract, two transforms, load",
            "status": "pending",
            "metadata": {"owner": "data"},
        }
        assert doc["organization_id"] == api.org
        assert doc["progress"] == {
            "total": 4,
            "completed": 0,
            "failed": 0,
            "pending": 4,
            "processing": 0,
        }
        assert {(e["parent_job_id"], e["child_job_id"]) for e in doc["dependencies"]} == {
            (ids["a"], ids["b"]),
            (ids["a"], ids["c"]),
            (ids["b"], ids["d"]),
            (ids["c"], ids["d"]),
        }
        job_d = doc["jobs"][3]
        assert {k: job_d[k] for k in ("id", "key", "queue", "status", "payload", "timeout_ms")} == {
            "id": ids["d"],
            "key": "d",
            "queue": "wf-d",
            "status": "pending",
            "payload": {"n": "d"},
            "timeout_ms": 300_000,
        }
        assert job_d["workflow_id"] == wf_id and job_d["error"] is None
        # The SDK's workflows.jobs.list() reads this document.
        sdk_jobs = jobs_from_workflow_detail(doc)
        assert [(j.key, j.queue_name, j.depends_on) for j in sdk_jobs] == [
            ("a", "wf-a", None),
            ("b", "wf-bc", [ids["a"]]),
            ("c", "wf-bc", [ids["a"]]),
            ("d", "wf-d", [ids["b"], ids["c"]]),
        ]
        r = await api.client.get("/workflows", params={"status": "pending", "limit": 5})
        [row] = r.json()
        WorkflowResponse.model_validate(row)
        assert (row["id"], row["total_jobs"], row["completed_jobs"], row["progress_percent"]) == (
            wf_id,
            4,
            0,
            0.0,
        )
        assert (await api.client.get("/workflows", params={"status": "failed"})).json() == []

    async def test_unknown_status_filter_is_400(self, api: Api) -> None:
        r = await api.client.get("/workflows", params={"status": "done"})
        assert r.status_code == 400 and "Unknown workflow status" in r.json()["message"]


class TestDiamond:
    async def test_runs_in_order_through_rest_workers(self, api: Api) -> None:
        wf_id, ids = await create(api, diamond())
        await run(api, "wf-bc", [])
        await run(api, "wf-a", [ids["a"]])
        assert (await detail(api, wf_id))["status"] == "running"
        await run(api, "wf-d", [])
        await run(api, "wf-bc", [ids["b"], ids["c"]])
        await run(api, "wf-d", [ids["d"]])
        doc = await detail(api, wf_id)
        assert doc["status"] == "completed" and doc["completed_at"] is not None
        assert doc["progress"]["completed"] == 4
        assert doc["jobs"][0]["result"] == {"ok": ids["a"]}

    async def test_failed_b_cancels_d_then_retry_reruns_only_those(self, api: Api) -> None:
        wf_id, ids = await create(api, diamond(b_retries=0))
        await run(api, "wf-a", [ids["a"]])
        jobs = await api.claim("wf-bc", limit=2)
        by_id = {j["id"]: j for j in jobs}
        b, c = by_id[ids["b"]], by_id[ids["c"]]
        r = await api.client.post(
            f"/jobs/{ids['b']}/fail",
            json={"worker_id": "w1", "lease_id": b["lease_id"], "error": "transform exploded"},
        )
        assert r.status_code == 200, r.text
        r = await api.client.post(
            f"/jobs/{ids['c']}/complete", json={"worker_id": "w1", "lease_id": c["lease_id"]}
        )
        assert r.status_code == 200, r.text
        doc = await detail(api, wf_id)
        assert doc["status"] == "failed"
        assert doc["progress"] == {
            "total": 4,
            "completed": 2,
            "failed": 2,
            "pending": 0,
            "processing": 0,
        }
        jobs_by_key = {j["key"]: j for j in doc["jobs"]}
        assert jobs_by_key["b"]["status"] == "deadletter"
        assert jobs_by_key["b"]["error"]["message"] == "transform exploded"
        assert jobs_by_key["d"]["status"] == "cancelled"
        assert jobs_by_key["d"]["error"]["message"] == "Parent job failed or was deadlettered"
        [listed] = (await api.client.get("/workflows", params={"status": "failed"})).json()
        assert (listed["failed_jobs"], listed["cancelled_jobs"]) == (1, 1)

        r = await api.client.post(f"/workflows/{wf_id}/retry")
        assert r.status_code == 200, r.text
        assert WorkflowResponse.model_validate(r.json()).status == "running"
        await run(api, "wf-a", [])
        await run(api, "wf-bc", [ids["b"]])
        await run(api, "wf-d", [ids["d"]])
        assert (await detail(api, wf_id))["status"] == "completed"

    async def test_any_mode(self, api: Api) -> None:
        _, ids = await create(api, diamond("any"))
        await run(api, "wf-a", [ids["a"]])
        [first, _second] = await api.claim("wf-bc", limit=2)
        r = await api.client.post(
            f"/jobs/{first['id']}/complete", json={"worker_id": "w1", "lease_id": first["lease_id"]}
        )
        assert r.status_code == 200
        await run(api, "wf-d", [ids["d"]])

    async def test_retry_is_only_for_failed_workflows(self, api: Api) -> None:
        wf_id, _ = await create(api, diamond())
        r = await api.client.post(f"/workflows/{wf_id}/retry")
        assert r.status_code == 400
        assert r.json()["message"] == (
            "Cannot retry workflow with status 'pending'. Only failed workflows can be retried."
        )

    async def test_cancel(self, api: Api) -> None:
        wf_id, _ = await create(api, diamond())
        r = await api.client.post(f"/workflows/{wf_id}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" and r.json()["cancelled_jobs"] == 4
        await run(api, "wf-a", [])
        r = await api.client.post(f"/workflows/{wf_id}/cancel")
        assert r.status_code == 409 and r.json()["code"] == "CONFLICT"


def _jobs(n: int) -> list[dict[str, Any]]:
    return [{"key": f"k{i}", "queue_name": "q", "payload": {}} for i in range(n)]


class TestBadInput:
    @pytest.mark.parametrize(
        ("jobs", "message"),
        [
            (
                [
                    {"key": "a", "queue_name": "q", "payload": 1, "depends_on": ["b"]},
                    {"key": "b", "queue_name": "q", "payload": 2, "depends_on": ["a"]},
                ],
                "Circular dependency detected in workflow: a -> b -> a",
            ),
            (
                [{"key": "a", "queue_name": "q", "payload": 1, "depends_on": ["ghost"]}],
                "Job 'a' depends on unknown job 'ghost'",
            ),
            (
                [{"key": "a", "queue_name": "q", "payload": 1}] * 2,
                "Duplicate job key 'a' in workflow",
            ),
            (_jobs(101), "A workflow can contain at most 100 jobs (got 101)"),
            ([], "A workflow must contain at least one job"),
            ([{"key": "a/b", "queue_name": "q", "payload": 1}], "key must be 1-100 characters"),
            (
                [{"key": "a", "queue_name": "q", "payload": 1, "dependency_mode": "most"}],
                "dependency_mode",
            ),
            ([{"key": "a", "queue_name": "q", "payload": 1, "priority": 101}], "priority"),
            ([{"key": "a", "queue_name": ".q", "payload": 1}], "queue_name"),
            ([{"key": "a", "queue_name": "q"}], "payload"),
            ([{"key": "a", "queue_name": "q", "payload": 1, "color": "red"}], "color"),
        ],
    )
    async def test_400_and_nothing_stored(
        self, api: Api, jobs: list[dict[str, Any]], message: str
    ) -> None:
        r = await api.client.post("/workflows", json={"name": "bad", "jobs": jobs})
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert message in r.json()["message"], r.json()
        assert await counts(api) == dict.fromkeys(TABLES, 0)

    async def test_exactly_100_jobs_is_accepted(self, api: Api) -> None:
        await create(api, {"name": "wide", "jobs": _jobs(100)})
        assert await api.count("jobs") == 100

    async def test_oversized_payload_is_413(self, api: Api) -> None:
        jobs = _jobs(2)
        jobs[1]["payload"] = {"blob": "x" * OVER_LIMIT}
        r = await api.client.post("/workflows", json={"name": "big", "jobs": jobs})
        assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert await counts(api) == dict.fromkeys(TABLES, 0)

    @pytest.mark.parametrize(
        "body",
        [
            {"jobs": _jobs(1)},
            {"name": "", "jobs": _jobs(1)},
            {"name": "x" * 256, "jobs": _jobs(1)},
            {"name": "ok", "description": "d" * 1001, "jobs": _jobs(1)},
            {"name": "ok", "jobs": "nope"},
        ],
    )
    async def test_bad_workflow_fields(self, api: Api, body: dict[str, Any]) -> None:
        r = await api.client.post("/workflows", json=body)
        assert r.status_code == 400, r.text
        assert await counts(api) == dict.fromkeys(TABLES, 0)


class TestTenancy:
    async def test_other_orgs_workflow_ids_are_404(self, api: Api) -> None:
        wf_id, ids = await create(api, diamond())
        async with api.stranger() as stranger:
            for method, path in [
                ("GET", f"/workflows/{wf_id}"),
                ("POST", f"/workflows/{wf_id}/cancel"),
                ("POST", f"/workflows/{wf_id}/retry"),
                ("GET", f"/jobs/{ids['d']}/dependencies"),
            ]:
                r = await stranger.request(method, path)
                assert r.status_code == 404, (method, path, r.text)
                assert r.json()["code"] == "NOT_FOUND"
            assert (await stranger.get("/workflows")).json() == []
            r = await stranger.post(f"/jobs/{ids['d']}/dependencies", json={"depends_on": ["x"]})
            assert r.status_code == 404
        assert (await detail(api, wf_id))["status"] == "pending"

    async def test_scoped_key(self, api: Api) -> None:
        wf_id, _ = await create(api, diamond())
        async with api.scoped("wf-a", "wf-bc") as scoped:
            r = await scoped.post("/workflows", json=diamond())
            assert r.status_code == 403 and "wf-d" in r.json()["message"]
            assert (await scoped.get(f"/workflows/{wf_id}")).status_code == 404


class TestPlanCap:
    async def test_cap_on_active_workflows_is_429_quota_exceeded(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cap = 3
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_WORKFLOWS", str(cap))
        one = {"name": "one", "jobs": _jobs(1)}
        ids = [(await create(api, one))[0] for _ in range(cap)]
        r = await api.client.post("/workflows", json=one)
        assert r.status_code == 429, r.text
        assert "retry-after" not in r.headers
        assert r.json() == {
            "code": "QUOTA_EXCEEDED",
            "message": f"workflows limit reached ({cap}/{cap}). Upgrade to starter for higher limits.",
            "error": "limit_exceeded",
            "resource": "workflows",
            "current": cap,
            "limit": cap,
            "plan": "free",
            "upgrade_to": "starter",
        }
        assert await api.count("workflows") == cap
        # A finished (here: cancelled) workflow frees its slot.
        assert (await api.client.post(f"/workflows/{ids[0]}/cancel")).status_code == 200
        await create(api, one)

    async def test_plan_without_workflows_is_403_and_stores_nothing(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The built-in free tier: max_workflows = 0 means the feature is off.
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_WORKFLOWS", "0")
        r = await api.client.post("/workflows", json={"name": "one", "jobs": _jobs(2)})
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["code"] == "FEATURE_DISABLED"
        assert (body["feature"], body["plan"], body["upgrade_to"]) == (
            "workflows",
            "free",
            "starter",
        )
        assert await counts(api) == dict.fromkeys(TABLES, 0)

    async def test_unlimited_plan_passes_no_cap(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_WORKFLOWS", "2")
        one = {"name": "one", "jobs": _jobs(1)}
        for _ in range(2):
            await create(api, one)
        assert (await api.client.post("/workflows", json=one)).status_code == 429
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_WORKFLOWS", "unlimited")
        await create(api, one)
        assert await api.count("workflows") == 3


class TestJobDependencies:
    async def test_add_and_get(self, api: Api) -> None:
        parent = await api.enqueue("deps-a")
        job = await api.enqueue("deps-b")
        r = await api.client.post(
            f"/jobs/{job}/dependencies", json={"depends_on": [parent], "dependency_mode": "all"}
        )
        assert r.status_code == 200, r.text
        added = AddDependenciesResponse.model_validate(r.json())
        assert (added.added_count, added.dependencies_met) == (1, False)
        r = await api.client.get(f"/jobs/{job}/dependencies")
        doc = JobWithDependencies.model_validate(r.json())
        assert [(d.job_id, d.status, d.queue_name) for d in doc.dependencies] == [
            (parent, "pending", "deps-a")
        ]
        assert (doc.dependents, doc.dependency_mode, doc.dependencies_met) == ([], "all", False)
        assert await api.claim("deps-b") == []
        await run(api, "deps-a", [parent])
        parent_doc = (await api.client.get(f"/jobs/{parent}/dependencies")).json()
        assert [d["job_id"] for d in parent_doc["dependents"]] == [job]
        assert (await api.client.get(f"/jobs/{job}/dependencies")).json()["dependencies_met"]
        await run(api, "deps-b", [job])

    async def test_parent_job_id_is_listed(self, api: Api) -> None:
        parent = await api.enqueue("deps-p")
        child = await api.enqueue("deps-p", parent_job_id=parent)
        doc = (await api.client.get(f"/jobs/{child}/dependencies")).json()
        assert [d["job_id"] for d in doc["dependencies"]] == [parent]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"depends_on": []}, 400),
            ({"depends_on": ["a"], "dependency_mode": "some"}, 400),
            ({}, 400),
            ({"depends_on": ["no-such-job"]}, 404),
        ],
    )
    async def test_refused(self, api: Api, body: dict[str, Any], status: int) -> None:
        job = await api.enqueue("deps-bad")
        r = await api.client.post(f"/jobs/{job}/dependencies", json=body)
        assert r.status_code == status, r.text
        assert await api.count("job_dependencies") == 0

    async def test_unknown_job_is_404(self, api: Api) -> None:
        r = await api.client.get("/jobs/no-such-job/dependencies")
        assert r.status_code == 404
