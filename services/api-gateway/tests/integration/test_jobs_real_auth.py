"""The job routes behind real authentication: API keys minted by the gateway itself.

The other ``test_jobs*``/``test_dlq*``/``test_queues*``/``test_workers*`` modules
override authentication (their ``real_auth_later`` tests); this one repeats
their scope and tenancy checks with real keys: an organization bootstrapped
through ``POST /organizations``, a queue-scoped key from ``POST /api-keys``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from spooled_gateway.app import create_app
from spooled_gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from core_stack import Core

pytest_plugins = ["core_stack"]


@pytest.fixture(scope="module")
async def authed(queue_core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with its real ``require_principal``, in front of a real queue-core."""
    from core_stack import INTERNAL_TOKEN

    settings = GatewaySettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": queue_core.dsn,
            "QUEUE_CORE_ADDR": queue_core.addr,
            "GRPC_PORT": 0,
            "SPOOLED_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "DATABASE_MIN_CONNECTIONS": 1,
            "DATABASE_MAX_CONNECTIONS": 3,
        }
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway/api/v1"
        ) as client,
    ):
        yield client


async def new_org(client: httpx.AsyncClient) -> dict[str, str]:
    slug = f"jobs-{uuid.uuid4().hex[:10]}"
    r = await client.post("/organizations", json={"name": "Jobs Test Org", "slug": slug})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['api_key']['key']}"}


async def scoped_key(
    client: httpx.AsyncClient, admin: dict[str, str], *queues: str
) -> dict[str, str]:
    r = await client.post(
        "/api-keys", headers=admin, json={"name": "scoped", "queues": list(queues)}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def test_requires_credentials(authed: httpx.AsyncClient) -> None:
    for method, path in (
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/dlq"),
        ("GET", "/queues"),
        ("POST", "/workers/register"),
    ):
        r = await authed.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["code"] == "UNAUTHORIZED"
    bad = await authed.get("/jobs", headers={"Authorization": "Bearer sp_test_" + "x" * 43})
    assert bad.status_code == 401


async def test_scoped_key(authed: httpx.AsyncClient) -> None:
    admin = await new_org(authed)
    mine = await scoped_key(authed, admin, "mine")
    theirs_job = (
        await authed.post("/jobs", headers=admin, json={"queue_name": "theirs", "payload": {}})
    ).json()["id"]

    r = await authed.post("/jobs", headers=mine, json={"queue_name": "mine", "payload": {}})
    assert r.status_code == 201, r.text
    mine_job = r.json()["id"]

    writes: list[tuple[str, str, Any]] = [
        ("POST", "/jobs", {"queue_name": "theirs", "payload": {}}),
        ("POST", "/jobs/bulk", {"queue_name": "theirs", "jobs": [{"payload": {}}]}),
        ("POST", "/jobs/claim", {"queue_name": "theirs", "worker_id": "w"}),
        ("PUT", "/queues/theirs/config", {"max_retries": 1}),
        ("POST", "/queues/theirs/pause", {}),
        ("DELETE", "/queues/theirs", None),
        ("POST", "/workers/register", {"queue_name": "theirs", "hostname": "h"}),
        ("POST", "/jobs/dlq/retry", {}),
        ("POST", "/jobs/dlq/purge", {"confirm": True}),
    ]
    for method, path, body in writes:
        r = await authed.request(method, path, headers=mine, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "ACCESS_DENIED"

    # Reads are filtered to the key's queues; other jobs look missing.
    listed = await authed.get("/jobs", headers=mine)
    assert [j["id"] for j in listed.json()] == [mine_job]
    assert (await authed.get(f"/jobs/{theirs_job}", headers=mine)).status_code == 404
    assert (await authed.delete(f"/jobs/{theirs_job}", headers=mine)).status_code == 404
    assert (await authed.get("/jobs/stats", headers=mine)).json()["total"] == 1
    assert (await authed.get("/jobs/stats", headers=admin)).json()["total"] == 2


async def test_other_org_cannot_see_or_touch(authed: httpx.AsyncClient) -> None:
    first, second = await new_org(authed), await new_org(authed)
    job_id = (
        await authed.post(
            "/jobs", headers=first, json={"queue_name": "q", "payload": {"secret": True}}
        )
    ).json()["id"]
    assert (await authed.get(f"/jobs/{job_id}", headers=second)).status_code == 404
    assert (await authed.post(f"/jobs/{job_id}/retry", headers=second)).status_code == 404
    assert (await authed.get("/jobs", headers=second)).json() == []
    claimed = await authed.post(
        "/jobs/claim", headers=second, json={"queue_name": "q", "worker_id": "w"}
    )
    assert claimed.json() == {"jobs": []}
    assert (await authed.get(f"/jobs/{job_id}", headers=first)).json()["status"] == "pending"


async def test_worker_round_trip_with_a_real_key(authed: httpx.AsyncClient) -> None:
    key = await new_org(authed)
    wid = f"w-{uuid.uuid4().hex[:10]}"
    r = await authed.post(
        "/workers/register",
        headers=key,
        json={"queue_name": "q", "hostname": "h", "worker_id": wid},
    )
    assert r.status_code == 201, r.text
    job_id = (
        await authed.post("/jobs", headers=key, json={"queue_name": "q", "payload": {"n": 1}})
    ).json()["id"]
    [job] = (
        await authed.post("/jobs/claim", headers=key, json={"queue_name": "q", "worker_id": wid})
    ).json()["jobs"]
    r = await authed.post(
        f"/jobs/{job_id}/complete",
        headers=key,
        json={"worker_id": wid, "lease_id": job["lease_id"], "result": {"ok": True}},
    )
    assert r.json() == {"success": True}
    assert (await authed.post(f"/workers/{wid}/deregister", headers=key)).status_code == 204
