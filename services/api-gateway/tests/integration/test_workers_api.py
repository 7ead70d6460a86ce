"""``/workers`` (API.md §7) against a real queue-core."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

SDK_REGISTER = {
    "queue_name": "q",
    "hostname": "host-1",
    "worker_type": "python",
    "max_concurrency": 2,
    "metadata": {},
    "version": "1.6.0",
}


@pytest.fixture
def wid() -> str:
    """A worker id of this test's own: ids are unique across organizations (409 otherwise)."""
    return f"stable-{uuid.uuid4().hex[:12]}"


def sdk_register(wid: str, **over: Any) -> dict[str, Any]:
    return {**SDK_REGISTER, "worker_id": wid, **over}


async def test_register_list_get_heartbeat_deregister(api: Api, wid: str) -> None:
    r = await api.client.post("/workers/register", json=sdk_register(wid))
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["id"] == wid and reg["queue_name"] == "q"
    assert reg["lease_duration_secs"] > 0 and reg["heartbeat_interval_secs"] > 0

    listed = (await api.client.get("/workers")).json()
    assert [w["id"] for w in listed] == [wid]
    assert {
        "id",
        "queue_name",
        "hostname",
        "status",
        "current_jobs",
        "max_concurrency",
        "last_heartbeat",
    } <= set(listed[0])
    assert listed[0]["max_concurrency"] == 2

    worker = (await api.client.get(f"/workers/{wid}")).json()
    assert worker["max_concurrent_jobs"] == 2 and worker["hostname"] == "host-1"
    assert worker["worker_type"] == "python" and worker["version"] == "1.6.0"
    assert worker["organization_id"] == api.org

    beat = await api.client.post(
        f"/workers/{wid}/heartbeat", json={"current_jobs": 1, "status": "healthy"}
    )
    assert beat.status_code == 200 and beat.content == b""
    assert (await api.client.get(f"/workers/{wid}")).json()["current_job_count"] == 1

    bye = await api.client.post(f"/workers/{wid}/deregister")
    assert bye.status_code == 204
    assert (await api.client.get(f"/workers/{wid}")).json()["status"] == "offline"


async def test_register_mints_an_id(api: Api) -> None:
    r = await api.client.post(
        "/workers/register", json={"queue_name": "q", "hostname": "h", "max_concurrency": 5}
    )
    assert r.status_code == 201 and r.json()["id"]


async def test_reregistering_own_id_is_an_upsert(api: Api, wid: str) -> None:
    for _ in range(2):
        r = await api.client.post("/workers/register", json=sdk_register(wid))
        assert r.status_code == 201, r.text
    assert await api.count("workers") == 1


async def test_id_of_another_org_is_a_conflict(api: Api, wid: str) -> None:
    """real_auth_later."""
    assert (await api.client.post("/workers/register", json=sdk_register(wid))).status_code == 201
    async with api.stranger() as stranger:
        r = await stranger.post("/workers/register", json=sdk_register(wid))
        assert r.status_code == 409
        assert (await stranger.get(f"/workers/{wid}")).status_code == 404


async def test_heartbeat_tolerates_unknown_status(api: Api, wid: str) -> None:
    await api.client.post("/workers/register", json=sdk_register(wid))
    r = await api.client.post(
        f"/workers/{wid}/heartbeat", json={"current_jobs": 0, "status": "sleepy"}
    )
    assert r.status_code == 200
    assert (await api.client.get(f"/workers/{wid}")).json()["status"] == "healthy"


async def test_unknown_worker(api: Api) -> None:
    assert (await api.client.get("/workers/ghost")).status_code == 404
    r = await api.client.post("/workers/ghost/heartbeat", json={"current_jobs": 0})
    assert r.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"hostname": "-bad"},
        {"worker_id": "has space"},
        {"max_concurrency": 0},
        {"queue_name": ".q"},
        {"nickname": "x"},
        {"metadata": {"x": "y" * 70_000}},
        {"hostname": None},
        b"{]",
    ],
)
async def test_bad_register_writes_nothing(api: Api, wid: str, body: Any) -> None:
    if isinstance(body, bytes):
        r = await api.client.post("/workers/register", content=body)
    else:
        r = await api.client.post("/workers/register", json=sdk_register(wid, **body))
    assert r.status_code == 400, r.text
    assert await api.count("workers") == 0


@pytest.mark.parametrize(
    "body", [{}, {"current_jobs": -1}, {"current_jobs": "1"}, {"current_jobs": 0, "mood": "ok"}]
)
async def test_bad_heartbeat(api: Api, wid: str, body: dict[str, Any]) -> None:
    await api.client.post("/workers/register", json=sdk_register(wid))
    r = await api.client.post(f"/workers/{wid}/heartbeat", json=body)
    assert r.status_code == 400, r.text


async def test_register_scope(api: Api, wid: str) -> None:
    """real_auth_later."""
    async with api.scoped("mine") as scoped:
        r = await scoped.post("/workers/register", json=sdk_register(wid, queue_name="theirs"))
    assert r.status_code == 403
    assert await api.count("workers") == 0
