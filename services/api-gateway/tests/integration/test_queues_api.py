"""``/queues`` (API.md §6) against a real queue-core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

CONFIG_FIELDS = {
    "id",
    "organization_id",
    "queue_name",
    "max_retries",
    "default_timeout",
    "rate_limit",
    "enabled",
    "settings",
    "created_at",
    "updated_at",
}


async def test_config_upsert_keeps_omitted_fields(api: Api) -> None:
    r = await api.client.put("/queues/emails/config", json={"max_retries": 5})
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert set(cfg) == CONFIG_FIELDS and cfg["max_retries"] == 5 and cfg["enabled"] is True
    assert cfg["organization_id"] == api.org and cfg["queue_name"] == "emails"

    r = await api.client.put(
        "/queues/emails/config",
        json={"default_timeout": 30, "rate_limit": 10, "settings": {"a": 1}},
    )
    cfg = r.json()
    assert (cfg["max_retries"], cfg["default_timeout"], cfg["rate_limit"]) == (5, 30, 10)
    r = await api.client.put("/queues/emails/config", json={"settings": {"b": 2}})
    assert r.json()["settings"] == {"a": 1, "b": 2}

    # Legacy clients repeat the queue name in the body; the path wins.
    r = await api.client.put("/queues/emails/config", json={"queue_name": "emails"})
    assert r.status_code == 200

    got = await api.client.get("/queues/emails")
    assert got.json()["max_retries"] == 5
    listed = (await api.client.get("/queues")).json()
    assert listed == [
        {
            "queue_name": "emails",
            "max_retries": 5,
            "default_timeout": 30,
            "rate_limit": 10,
            "enabled": True,
        }
    ]


async def test_queue_defaults_apply_to_new_jobs(api: Api) -> None:
    await api.client.put("/queues/q/config", json={"max_retries": 7, "default_timeout": 45})
    job = (await api.client.get(f"/jobs/{await api.enqueue()}")).json()
    assert (job["max_retries"], job["timeout_seconds"]) == (7, 45)


async def test_unknown_queue_is_404(api: Api) -> None:
    r = await api.client.get("/queues/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


async def test_stats(api: Api) -> None:
    await api.enqueue("s")
    await api.enqueue("s")
    [job] = await api.claim("s")
    await api.client.post(
        f"/jobs/{job['id']}/complete", json={"worker_id": "w1", "lease_id": job["lease_id"]}
    )
    r = await api.client.get("/queues/s/stats")
    assert r.status_code == 200, r.text
    stats = r.json()
    assert {
        "queue_name",
        "pending_jobs",
        "processing_jobs",
        "completed_jobs_24h",
        "failed_jobs_24h",
        "avg_processing_time_ms",
        "max_job_age_seconds",
        "active_workers",
    } <= set(stats)
    assert (stats["pending_jobs"], stats["processing_jobs"], stats["completed_jobs_24h"]) == (
        1,
        0,
        1,
    )


@pytest.mark.parametrize("body", [None, {}, {"reason": "deploy"}])
async def test_pause_blocks_claims_until_resume(api: Api, body: dict[str, Any] | None) -> None:
    job_id = await api.enqueue("p")
    if body is None:
        r = await api.client.post("/queues/p/pause")  # the SDK may send no body at all
    else:
        r = await api.client.post("/queues/p/pause", json=body)
    assert r.status_code == 200, r.text
    paused = r.json()
    assert paused["queue_name"] == "p" and paused["paused"] is True and paused["paused_at"]
    assert paused["reason"] == (body or {}).get("reason")
    assert await api.claim("p") == []
    assert (await api.client.get("/queues/p")).json()["enabled"] is False

    r = await api.client.post("/queues/p/resume")
    assert r.status_code == 200
    assert r.json()["resumed"] is True and isinstance(r.json()["paused_duration_secs"], int)
    assert [j["id"] for j in await api.claim("p")] == [job_id]


async def test_delete(api: Api) -> None:
    await api.client.put("/queues/d/config", json={"max_retries": 1})
    r = await api.client.delete("/queues/d")
    assert r.status_code == 204 and r.content == b""
    assert (await api.client.get("/queues/d")).status_code == 404


async def test_delete_with_active_jobs(api: Api) -> None:
    await api.client.put("/queues/busy/config", json={"max_retries": 1})
    await api.enqueue("busy")
    r = await api.client.delete("/queues/busy")
    assert r.status_code == 409
    assert await api.count() == 1
    r = await api.client.delete("/queues/busy", params={"delete_jobs": "true"})
    assert r.status_code == 204
    assert await api.count() == 0


@pytest.mark.parametrize("name", [".hidden", "-dash", "..", "a%20b", "q" * 101, "%2E%2E"])
async def test_bad_names_in_path(api: Api, name: str) -> None:
    for method, path, body in (
        ("GET", f"/queues/{name}", None),
        ("PUT", f"/queues/{name}/config", {"max_retries": 1}),
        ("GET", f"/queues/{name}/stats", None),
        ("POST", f"/queues/{name}/pause", {}),
        ("POST", f"/queues/{name}/resume", None),
        ("DELETE", f"/queues/{name}", None),
    ):
        r = await api.client.request(method, path, json=body)
        # ".." may be normalised away by the URL layer and then hit another route: never 2xx.
        assert r.status_code in (400, 404, 405), (method, path, r.status_code, r.text)
    assert await api.count("queue_config") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"max_retries": 101},
        {"default_timeout": 0},
        {"rate_limit": 0},
        {"enabled": "yes"},
        {"settings": [1, 2]},
        {"settings": {"big": "x" * 70_000}},
        {"paused": True},
        {"queue_name": "../x"},
    ],
)
async def test_bad_config_writes_nothing(api: Api, body: dict[str, Any]) -> None:
    r = await api.client.put("/queues/cfg/config", json=body)
    assert r.status_code == 400, r.text
    assert await api.count("queue_config") == 0


async def test_bad_pause_body(api: Api) -> None:
    await api.enqueue("p")
    for body in ({"reason": "r" * 501}, {"why": "x"}, b"{oops"):
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        assert (await api.client.post("/queues/p/pause", **kwargs)).status_code == 400
    assert len(await api.claim("p")) == 1


async def test_scope(api: Api) -> None:
    """real_auth_later."""
    async with api.scoped("mine") as scoped:
        for method, path, body in (
            ("PUT", "/queues/theirs/config", {"max_retries": 1}),
            ("POST", "/queues/theirs/pause", {}),
            ("POST", "/queues/theirs/resume", None),
            ("DELETE", "/queues/theirs", None),
        ):
            r = await scoped.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
        assert (await scoped.put("/queues/mine/config", json={"max_retries": 1})).status_code == 200
    assert await api.count("queue_config") == 1
