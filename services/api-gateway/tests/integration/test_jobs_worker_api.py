"""REST workers: claim, heartbeat, complete, fail with lease fencing (API.md §3.3-§3.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

#: Bigger than the payload cap core_stack configures (64 KiB).
OVER_LIMIT = 70_000


async def test_claim_complete_round_trip(api: Api) -> None:
    job_id = await api.enqueue(payload={"to": "x"}, max_retries=4, timeout_seconds=90)
    [job] = await api.claim(worker="w1")
    assert set(job) == {
        "id",
        "queue_name",
        "payload",
        "retry_count",
        "max_retries",
        "timeout_seconds",
        "lease_expires_at",
        "lease_id",
    }
    assert job["id"] == job_id and job["payload"] == {"to": "x"}
    assert (job["max_retries"], job["timeout_seconds"]) == (4, 90) and job["lease_id"]

    beat = await api.client.post(
        f"/jobs/{job_id}/heartbeat",
        json={"worker_id": "w1", "lease_duration_secs": 60, "lease_id": job["lease_id"]},
    )
    assert beat.status_code == 200 and beat.json() == {"success": True}

    done = await api.client.post(
        f"/jobs/{job_id}/complete",
        json={"worker_id": "w1", "result": {"sent": True}, "lease_id": job["lease_id"]},
    )
    assert done.status_code == 200 and done.json() == {"success": True}
    stored = (await api.client.get(f"/jobs/{job_id}")).json()
    assert stored["status"] == "completed" and stored["result"] == {"sent": True}

    # A replayed ack must not act twice; the SDK treats "already completed" as success.
    replay = await api.client.post(
        f"/jobs/{job_id}/complete", json={"worker_id": "w1", "lease_id": job["lease_id"]}
    )
    assert replay.status_code == 409 and "already completed" in replay.json()["message"]


async def test_claim_order_and_limit(api: Api) -> None:
    low = await api.enqueue(priority=-1)
    high = await api.enqueue(priority=10)
    mid = await api.enqueue(priority=0)
    jobs = await api.claim(limit=2)
    assert {j["id"] for j in jobs} == {high, mid}
    assert [j["id"] for j in await api.claim(limit=5)] == [low]
    assert await api.claim() == []


async def test_fail_retries_then_dead_letters(api: Api) -> None:
    job_id = await api.enqueue(max_retries=1)
    [job] = await api.claim()
    r = await api.client.post(
        f"/jobs/{job_id}/fail",
        json={"worker_id": "w1", "error": "first", "lease_id": job["lease_id"]},
    )
    assert r.json() == {"success": True}
    stored = (await api.client.get(f"/jobs/{job_id}")).json()
    assert stored["status"] == "pending" and stored["retry_count"] == 1
    assert stored["last_error"] == "first"

    await api.sql("UPDATE core.jobs SET scheduled_at = now() WHERE id = $1", job_id)
    [again] = await api.claim()
    r = await api.client.post(
        f"/jobs/{job_id}/fail",
        json={"worker_id": "w1", "error": "second", "lease_id": again["lease_id"]},
    )
    assert r.status_code == 200
    assert (await api.client.get(f"/jobs/{job_id}")).json()["status"] == "deadletter"


async def test_fail_without_retry_dead_letters_at_once(api: Api) -> None:
    job_id = await api.enqueue(max_retries=5)
    [job] = await api.claim()
    await api.client.post(
        f"/jobs/{job_id}/fail",
        json={"worker_id": "w1", "error": "fatal", "lease_id": job["lease_id"], "retry": False},
    )
    assert (await api.client.get(f"/jobs/{job_id}")).json()["status"] == "deadletter"


@pytest.mark.parametrize("action", ["complete", "fail", "heartbeat"])
async def test_missing_lease_id_is_lease_expired(api: Api, action: str) -> None:
    """Documented choice (routes.jobs._lease): 409 LEASE_EXPIRED, and the job is untouched."""
    job_id = await api.enqueue()
    await api.claim()
    body: dict[str, Any] = {"worker_id": "w1"}
    if action == "fail":
        body["error"] = "e"
    r = await api.client.post(f"/jobs/{job_id}/{action}", json=body)
    assert r.status_code == 409 and r.json()["code"] == "LEASE_EXPIRED"
    assert (await api.client.get(f"/jobs/{job_id}")).json()["status"] == "processing"


@pytest.mark.parametrize("action", ["complete", "fail", "heartbeat"])
async def test_wrong_lease_or_worker(api: Api, action: str) -> None:
    job_id = await api.enqueue()
    [job] = await api.claim()
    extra = {"error": "e"} if action == "fail" else {}
    r = await api.client.post(
        f"/jobs/{job_id}/{action}",
        json={"worker_id": "w1", "lease_id": job["lease_id"] + "-stale", **extra},
    )
    assert r.status_code == 409 and r.json()["code"] == "LEASE_EXPIRED"
    r = await api.client.post(
        f"/jobs/{job_id}/{action}",
        json={"worker_id": "intruder", "lease_id": job["lease_id"], **extra},
    )
    assert r.status_code in (404, 409)
    assert (await api.client.get(f"/jobs/{job_id}")).json()["status"] == "processing"


BAD_BODIES: list[tuple[str, Any]] = [
    ("claim", {"queue_name": "q", "worker_id": "w", "limit": 0}),
    ("claim", {"queue_name": "q", "worker_id": "w", "limit": 101}),
    ("claim", {"queue_name": "q", "worker_id": "w", "lease_duration_secs": 4}),
    ("claim", {"queue_name": "q", "worker_id": "w", "lease_duration_secs": 3601}),
    ("claim", {"queue_name": "q", "worker_id": ""}),
    ("claim", {"queue_name": "q", "worker_id": "w" * 256}),
    ("claim", {"queue_name": "..", "worker_id": "w"}),
    ("claim", {"queue_name": "q", "worker_id": "w", "extra": 1}),
    ("claim", b"{not json"),
    ("complete", {"worker_id": "w", "lease_id": "l", "result": "x" * OVER_LIMIT}),
    ("complete", {"worker_id": "w", "lease_id": "l", "outcome": "ok"}),
    ("complete", {"lease_id": "l"}),
    ("fail", {"worker_id": "w", "lease_id": "l", "error": ""}),
    ("fail", {"worker_id": "w", "lease_id": "l", "error": "e" * 2049}),
    ("fail", {"worker_id": "w", "lease_id": "l"}),
    ("heartbeat", {"worker_id": "w", "lease_id": "l", "lease_duration_secs": 3601}),
    ("heartbeat", {"worker_id": "w", "lease_id": "l", "lease_duration_secs": "30"}),
]


@pytest.mark.parametrize(("action", "body"), BAD_BODIES)
async def test_bad_worker_bodies_change_nothing(api: Api, action: str, body: Any) -> None:
    job_id = await api.enqueue()
    if action == "claim":
        path = "/jobs/claim"
    else:
        await api.claim()
        path = f"/jobs/{job_id}/{action}"
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = await api.client.post(path, **kwargs)
    assert r.status_code in (400, 413), r.text
    expected = "pending" if action == "claim" else "processing"
    job = (await api.client.get(f"/jobs/{job_id}")).json()
    assert job["status"] == expected and job["result"] is None and job["last_error"] is None


async def test_claim_scope(api: Api) -> None:
    """real_auth_later."""
    await api.enqueue("theirs")
    async with api.scoped("mine") as scoped:
        r = await scoped.post("/jobs/claim", json={"queue_name": "theirs", "worker_id": "w"})
    assert r.status_code == 403
    assert await api.count(where="AND status = 'pending'") == 1


async def test_claim_long_poll_wakes_on_enqueue(api: Api) -> None:
    """``wait_ms`` (extension): a waiting claim returns the job enqueued meanwhile."""
    import asyncio

    waiting = asyncio.create_task(
        api.client.post("/jobs/claim", json={"queue_name": "lp", "worker_id": "w", "wait_ms": 5000})
    )
    await asyncio.sleep(0.3)
    job_id = await api.enqueue("lp")
    r = await asyncio.wait_for(waiting, 10)
    assert [j["id"] for j in r.json()["jobs"]] == [job_id]
