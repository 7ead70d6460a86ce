"""``/jobs`` end to end: gateway in-process → real queue-core → real Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

#: Bigger than the payload cap core_stack configures (64 KiB).
OVER_LIMIT = 70_000

JOB_FIELDS = {
    "id",
    "organization_id",
    "queue_name",
    "status",
    "payload",
    "result",
    "retry_count",
    "max_retries",
    "last_error",
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "expires_at",
    "priority",
    "tags",
    "timeout_seconds",
    "parent_job_id",
    "completion_webhook",
    "assigned_worker_id",
    "lease_id",
    "lease_expires_at",
    "idempotency_key",
    "updated_at",
    "workflow_id",
    "dependency_mode",
    "dependencies_met",
}


class TestCreate:
    async def test_create_then_get(self, api: Api) -> None:
        r = await api.client.post(
            "/jobs",
            json={
                "queue_name": "emails",
                "payload": {"to": "a@b.c", "job_type": "welcome"},
                "priority": 5,
                "max_retries": 2,
                "timeout_seconds": 60,
                "tags": {"vip": True},
                "completion_webhook": "https://hooks.example.com/done",
                "completion_webhook_secret": "s3cret",
            },
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["created"] is True and set(body) == {"id", "created"}

        job = (await api.client.get(f"/jobs/{body['id']}")).json()
        assert set(job) == JOB_FIELDS
        assert job["organization_id"] == api.org and job["status"] == "pending"
        assert job["payload"] == {"to": "a@b.c", "job_type": "welcome"}
        assert (job["priority"], job["max_retries"], job["timeout_seconds"]) == (5, 2, 60)
        assert job["tags"] == {"vip": True} and job["retry_count"] == 0
        assert job["completion_webhook"] == "https://hooks.example.com/done"
        assert "completion_webhook_secret" not in job
        assert job["created_at"].endswith("Z")

    async def test_future_schedule_is_scheduled(self, api: Api) -> None:
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        job_id = await api.enqueue(scheduled_at=later)
        job = (await api.client.get(f"/jobs/{job_id}")).json()
        assert job["status"] == "scheduled" and job["scheduled_at"].startswith(later[:16])

    async def test_idempotency_key_returns_existing_job(self, api: Api) -> None:
        first = await api.client.post(
            "/jobs", json={"queue_name": "q", "payload": {"n": 1}, "idempotency_key": "k1"}
        )
        again = await api.client.post(
            "/jobs", json={"queue_name": "q", "payload": {"n": 2}, "idempotency_key": "k1"}
        )
        assert first.status_code == 201 and again.status_code == 200
        assert again.json() == {"id": first.json()["id"], "created": False}
        assert await api.count() == 1

    async def test_any_json_payload(self, api: Api) -> None:
        for payload in ([1, "two", None], "text", 42, {"nested": {"deep": [True]}}):
            r = await api.client.post("/jobs", json={"queue_name": "q", "payload": payload})
            job = (await api.client.get(f"/jobs/{r.json()['id']}")).json()
            assert job["payload"] == payload

    async def test_payload_at_the_limit_is_accepted(self, api: Api) -> None:
        filler = "x" * (api.max_payload_bytes - len(b'{"f":""}'))
        r = await api.client.post("/jobs", json={"queue_name": "q", "payload": {"f": filler}})
        assert r.status_code == 201, r.text


BAD_CREATE: list[tuple[str, Any, int, str]] = [
    ("malformed json", b'{"queue_name": "q", "payload": ', 400, "INVALID_JSON"),
    ("empty body", b"", 400, "INVALID_JSON"),
    ("not an object", b"[1, 2]", 400, "VALIDATION_ERROR"),
    ("unknown field", {"queue_name": "q", "payload": {}, "queue": "q"}, 400, "VALIDATION_ERROR"),
    ("missing payload", {"queue_name": "q"}, 400, "VALIDATION_ERROR"),
    ("missing queue", {"payload": {}}, 400, "VALIDATION_ERROR"),
    (
        "priority type",
        {"queue_name": "q", "payload": {}, "priority": "high"},
        400,
        "VALIDATION_ERROR",
    ),
    ("priority high", {"queue_name": "q", "payload": {}, "priority": 101}, 400, "VALIDATION_ERROR"),
    ("priority low", {"queue_name": "q", "payload": {}, "priority": -101}, 400, "VALIDATION_ERROR"),
    (
        "retries high",
        {"queue_name": "q", "payload": {}, "max_retries": 101},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "retries negative",
        {"queue_name": "q", "payload": {}, "max_retries": -1},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "timeout zero",
        {"queue_name": "q", "payload": {}, "timeout_seconds": 0},
        400,
        "VALIDATION_ERROR",
    ),
    ("bad queue name", {"queue_name": ".hidden", "payload": {}}, 400, "VALIDATION_ERROR"),
    ("traversal queue", {"queue_name": "../etc", "payload": {}}, 400, "VALIDATION_ERROR"),
    ("long queue", {"queue_name": "q" * 101, "payload": {}}, 400, "VALIDATION_ERROR"),
    ("tags string", {"queue_name": "q", "payload": {}, "tags": "urgent"}, 400, "VALIDATION_ERROR"),
    (
        "tags too big",
        {"queue_name": "q", "payload": {}, "tags": ["x" * 70_000]},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "webhook scheme",
        {"queue_name": "q", "payload": {}, "completion_webhook": "ftp://h/x"},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "idempotency long",
        {"queue_name": "q", "payload": {}, "idempotency_key": "k" * 256},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "bad timestamp",
        {"queue_name": "q", "payload": {}, "scheduled_at": "soon"},
        400,
        "VALIDATION_ERROR",
    ),
    (
        "huge number",
        b'{"queue_name": "q", "payload": {"n": 123456789012345678901234567890}}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "payload too large",
        {"queue_name": "q", "payload": {"f": "x" * OVER_LIMIT}},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_CREATE, ids=[c[0] for c in BAD_CREATE]
)
async def test_bad_create_writes_nothing(
    api: Api, case: str, body: Any, status: int, code: str
) -> None:
    if isinstance(body, bytes):
        r = await api.client.post(
            "/jobs", content=body, headers={"content-type": "application/json"}
        )
    else:
        r = await api.client.post("/jobs", json=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["message"]
    assert await api.count() == 0


async def test_scope_refuses_other_queue(api: Api) -> None:
    """real_auth_later: same with a scoped API key."""
    async with api.scoped("allowed") as scoped:
        assert (
            await scoped.post("/jobs", json={"queue_name": "allowed", "payload": {}})
        ).status_code == 201
        r = await scoped.post("/jobs", json={"queue_name": "other", "payload": {}})
        assert r.status_code == 403 and r.json()["code"] == "ACCESS_DENIED"
        assert "other" in r.json()["message"]
    assert await api.count() == 1


async def test_other_tenant_sees_nothing(api: Api) -> None:
    """real_auth_later."""
    job_id = await api.enqueue()
    async with api.scoped() as same_org:
        assert (await same_org.get(f"/jobs/{job_id}")).status_code == 200
    async with api.stranger() as stranger:
        assert (await stranger.get(f"/jobs/{job_id}")).status_code == 404
        assert (await stranger.delete(f"/jobs/{job_id}")).status_code == 404
        listed = await stranger.get("/jobs")
        assert job_id not in {j["id"] for j in listed.json()}


class TestList:
    async def test_summaries_and_filters(self, api: Api) -> None:
        a = await api.enqueue("alpha", {"job_type": "email"}, tags=["red"])
        b = await api.enqueue("beta", {"job_type": "sms"}, tags={"blue": 1})
        r = await api.client.get("/jobs")
        assert r.status_code == 200 and r.headers["x-has-more"] == "false"
        rows = r.json()
        assert [row["id"] for row in rows] == [b, a]  # newest first
        row = rows[1]
        assert set(row) == {
            "id",
            "queue_name",
            "status",
            "priority",
            "retry_count",
            "attempt",
            "max_retries",
            "job_type",
            "last_error",
            "created_at",
            "scheduled_at",
            "started_at",
            "completed_at",
        }
        assert row["job_type"] == "email" and row["retry_count"] == row["attempt"] == 0

        async def ids(**params: Any) -> list[str]:
            resp = await api.client.get("/jobs", params=params)
            assert resp.status_code == 200, resp.text
            return [j["id"] for j in resp.json()]

        assert await ids(queue_name="alpha") == [a]
        assert await ids(queue="beta") == [b]
        assert await ids(tag="red") == [a] and await ids(tag="blue") == [b]
        assert await ids(job_type="sms") == [b]
        assert await ids(status="pending,deadletter") == [b, a]
        assert await ids(status="completed") == []
        assert await ids(status="bogus") == [b, a]  # unknown statuses are ignored
        assert await ids(order_dir="asc") == [a, b]
        assert await ids(order_by="queue_name", order_dir="desc") == [b, a]
        assert await ids(created_after="2000-01-01T00:00:00Z") == [b, a]
        assert await ids(created_before="2000-01-01T00:00:00Z") == []
        assert await ids(limit=0) == [b]  # clamped to 1

    async def test_pages_with_has_more(self, api: Api) -> None:
        for i in range(3):
            await api.enqueue(payload={"i": i})
        first = await api.client.get("/jobs", params={"limit": 2})
        assert len(first.json()) == 2 and first.headers["x-has-more"] == "true"
        rest = await api.client.get("/jobs", params={"limit": 2, "offset": 2})
        assert len(rest.json()) == 1 and rest.headers["x-has-more"] == "false"

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": "many"},
            {"created_after": "yesterday"},
            {"queue_name": "../x"},
            {"offset": "x"},
        ],
    )
    async def test_bad_query(self, api: Api, params: dict[str, str]) -> None:
        for path in ("/jobs", "/jobs/dlq"):
            r = await api.client.get(path, params=params)
            assert r.status_code == 400 and r.json()["code"] == "VALIDATION_ERROR"

    async def test_bad_history_query(self, api: Api) -> None:
        job_id = await api.enqueue()
        r = await api.client.get(f"/jobs/{job_id}/history", params={"limit": "all"})
        assert r.status_code == 400


class TestStatsAndBatchStatus:
    async def test_stats(self, api: Api) -> None:
        await api.enqueue("a")
        await api.enqueue("b")
        stats = (await api.client.get("/jobs/stats")).json()
        assert stats == {
            "pending": 2,
            "scheduled": 0,
            "processing": 0,
            "completed": 0,
            "failed": 0,
            "deadletter": 0,
            "cancelled": 0,
            "total": 2,
        }
        only_a = (await api.client.get("/jobs/stats", params={"queue": "a"})).json()
        assert only_a["total"] == 1

    async def test_batch_status(self, api: Api) -> None:
        a, b = await api.enqueue(), await api.enqueue()
        r = await api.client.get("/jobs/status", params={"ids": f"{a},missing,{b}"})
        rows = {row["id"]: row for row in r.json()}
        assert set(rows) == {a, b}
        assert set(rows[a]) == {
            "id",
            "status",
            "queue_name",
            "retry_count",
            "created_at",
            "completed_at",
        }
        assert (await api.client.get("/jobs/status", params={"ids": ""})).json() == []

    async def test_batch_status_over_100(self, api: Api) -> None:
        ids = ",".join(f"id{i}" for i in range(101))
        r = await api.client.get("/jobs/status", params={"ids": ids})
        assert r.status_code == 400 and "100" in r.json()["message"]


class TestOperatorActions:
    async def test_cancel(self, api: Api) -> None:
        job_id = await api.enqueue()
        r = await api.client.delete(f"/jobs/{job_id}")
        assert r.status_code == 204 and r.content == b""
        assert (await api.client.get(f"/jobs/{job_id}")).json()["status"] == "cancelled"
        again = await api.client.delete(f"/jobs/{job_id}")
        assert again.status_code == 409 and again.json()["code"] == "CONFLICT"

    async def test_unknown_job(self, api: Api) -> None:
        for method, path in (
            ("GET", "/jobs/nope"),
            ("DELETE", "/jobs/nope"),
            ("POST", "/jobs/nope/retry"),
        ):
            r = await api.client.request(method, path)
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", (method, r.text)

    async def test_boost_priority(self, api: Api) -> None:
        job_id = await api.enqueue(priority=1)
        r = await api.client.put(f"/jobs/{job_id}/priority", json={"priority": 50})
        assert r.json() == {"job_id": job_id, "old_priority": 1, "new_priority": 50}
        for bad in ({"priority": 101}, {"priority": "1"}, {}, {"priority": 1, "x": 1}):
            r = await api.client.put(f"/jobs/{job_id}/priority", json=bad)
            assert r.status_code == 400, bad
        assert (await api.client.get(f"/jobs/{job_id}")).json()["priority"] == 50

    async def test_retry_dead_letter_returns_job(self, api: Api) -> None:
        job_id = await api.dead_letter()
        r = await api.client.post(f"/jobs/{job_id}/retry")
        assert r.status_code == 200, r.text
        job = r.json()
        assert set(job) == JOB_FIELDS
        assert job["status"] == "pending" and job["retry_count"] == 0
        assert job["last_error"] is None

    async def test_retry_pending_is_conflict(self, api: Api) -> None:
        r = await api.client.post(f"/jobs/{await api.enqueue()}/retry")
        assert r.status_code == 409

    async def test_history(self, api: Api) -> None:
        job_id = await api.enqueue()
        [job] = await api.claim()
        await api.client.post(
            f"/jobs/{job_id}/complete", json={"worker_id": "w1", "lease_id": job["lease_id"]}
        )
        r = await api.client.get(f"/jobs/{job_id}/history")
        assert r.status_code == 200 and r.headers["x-has-more"] in ("true", "false")
        events = r.json()
        assert events and set(events[0]) == {
            "id",
            "job_id",
            "event_type",
            "worker_id",
            "details",
            "created_at",
        }
        kinds = [e["event_type"] for e in events]
        assert kinds[-1] == "completed"
        newest = (
            await api.client.get(
                f"/jobs/{job_id}/history", params={"order_dir": "desc", "limit": 1}
            )
        ).json()
        assert [e["event_type"] for e in newest] == ["completed"]


class TestBulk:
    async def test_bulk_sdk_body(self, api: Api) -> None:
        r = await api.client.post(
            "/jobs/bulk",
            json={
                "queue_name": "q",
                "default_priority": 3,
                "jobs": [
                    {"payload": {"n": 1}},
                    {"payload": {"n": 2}, "idempotency_key": "b2"},
                    {"payload": {"n": 3}, "priority": -5},
                ],
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 3 and body["success_count"] == 3 and body["failure_count"] == 0
        assert [s["index"] for s in body["succeeded"]] == [0, 1, 2]
        assert all(s["created"] for s in body["succeeded"]) and body["failed"] == []
        priorities = {
            (await api.client.get(f"/jobs/{s['job_id']}")).json()["priority"]
            for s in body["succeeded"]
        }
        assert priorities == {3, -5}

        again = await api.client.post(
            "/jobs/bulk",
            json={"queue_name": "q", "jobs": [{"payload": {}, "idempotency_key": "b2"}]},
        )
        assert again.json()["succeeded"][0]["created"] is False
        assert await api.count() == 3

    async def test_in_batch_duplicates_collapse_to_the_first(self, api: Api) -> None:
        r = await api.client.post(
            "/jobs/bulk",
            json={
                "queue_name": "q",
                "jobs": [
                    {"payload": 1, "idempotency_key": "same"},
                    {"payload": 2, "idempotency_key": "same"},
                ],
            },
        )
        first, second = r.json()["succeeded"]
        assert first["created"] is True and second["created"] is False
        assert first["job_id"] == second["job_id"]
        assert await api.count() == 1

    async def test_hundred_jobs(self, api: Api) -> None:
        r = await api.client.post(
            "/jobs/bulk",
            json={"queue_name": "q", "jobs": [{"payload": {"i": i}} for i in range(100)]},
        )
        assert r.json()["success_count"] == 100
        assert await api.count() == 100

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"queue_name": "q", "jobs": [{"payload": i} for i in range(101)]}, 400),
            ({"queue_name": "q", "jobs": []}, 400),
            ({"queue_name": "q", "jobs": [{"payload": 1}, {"payload": 2, "priority": 101}]}, 400),
            ({"queue_name": "q", "jobs": [{"payload": 1, "colour": "red"}]}, 400),
            ({"queue_name": "-q", "jobs": [{"payload": 1}]}, 400),
            ({"queue_name": "q", "jobs": [{"payload": 1}], "default_max_retries": 101}, 400),
            ({"queue_name": "q", "jobs": [{"payload": 1}, {"payload": "x" * OVER_LIMIT}]}, 413),
            (b'{"queue_name": "q", "jobs": [', 400),
        ],
    )
    async def test_bad_bulk_writes_nothing(self, api: Api, body: Any, status: int) -> None:
        if isinstance(body, bytes):
            r = await api.client.post("/jobs/bulk", content=body)
        else:
            r = await api.client.post("/jobs/bulk", json=body)
        assert r.status_code == status, r.text
        assert await api.count() == 0

    async def test_bulk_scope(self, api: Api) -> None:
        async with api.scoped("mine") as scoped:
            r = await scoped.post(
                "/jobs/bulk", json={"queue_name": "theirs", "jobs": [{"payload": 1}]}
            )
        assert r.status_code == 403
        assert await api.count() == 0


async def test_concurrent_creates(api: Api) -> None:
    """Many enqueues in flight at once all land (one gRPC channel, many streams)."""
    results = await asyncio.gather(
        *(
            api.client.post("/jobs", json={"queue_name": "q", "payload": {"i": i}})
            for i in range(50)
        )
    )
    assert {r.status_code for r in results} == {201}
    assert await api.count() == 50
