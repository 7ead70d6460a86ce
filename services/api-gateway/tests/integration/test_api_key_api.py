"""/api-keys over HTTP (API.md §11.2): shown once, stored as a hash, tenant-scoped."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import httpx
import pytest

API = "/api/v1"
SUMMARY_FIELDS = {
    "id",
    "name",
    "key_prefix",
    "queues",
    "rate_limit",
    "is_active",
    "created_at",
    "last_used",
    "expires_at",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_key_is_shown_once_and_only_its_hash_is_stored(
    gateway: httpx.AsyncClient, gateway_dsn: str, org_factory: Any
) -> None:
    org, admin_key = await org_factory()
    resp = await gateway.post(
        f"{API}/api-keys",
        headers=bearer(admin_key),
        json={
            "name": "CI deploy (prod)",
            "queues": ["emails", "reports.*"],
            "rate_limit": 600,
            "expires_at": "2999-01-01T00:00:00Z",
        },
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert set(created) == {"id", "key", "name", "created_at", "expires_at"}
    raw = created["key"]
    assert created["expires_at"] == "2999-01-01T00:00:00.000000Z"

    listed = (await gateway.get(f"{API}/api-keys", headers=bearer(admin_key))).json()
    assert all(set(k) == SUMMARY_FIELDS for k in listed)
    assert raw not in str(listed)
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine["key_prefix"] == raw[:12] and mine["queues"] == ["emails", "reports.*"]
    assert mine["rate_limit"] == 600 and mine["is_active"] is True
    single = await gateway.get(f"{API}/api-keys/{created['id']}", headers=bearer(admin_key))
    assert single.json() == mine

    # The database never sees the raw key: only sha256(raw) and a 12-char prefix.
    conn = await asyncpg.connect(gateway_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL app.maintenance = 'on'")
            rows = await conn.fetch("SELECT * FROM gateway.api_keys")
    finally:
        await conn.close()
    stored = [dict(r) for r in rows]
    assert all(raw not in str(v) for row in stored for v in row.values())
    row = next(r for r in stored if r["id"] == created["id"])
    assert row["lookup_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert row["key_prefix"] == raw[:12]

    resp = await gateway.get(f"{API}/organizations", headers=bearer(raw))
    assert resp.status_code == 200 and resp.json()[0]["id"] == org["id"]


async def test_rls_hides_keys_without_a_tenant(
    gateway: httpx.AsyncClient, gateway_dsn: str, org_factory: Any
) -> None:
    await org_factory()
    conn = await asyncpg.connect(gateway_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM gateway.api_keys") == 0
        assert await conn.fetchval("SELECT count(*) FROM gateway.organizations") == 0
    finally:
        await conn.close()


async def test_update_revoke_and_list_includes_revoked(
    gateway: httpx.AsyncClient, org_factory: Any
) -> None:
    _, admin_key = await org_factory(slug="upd-org")
    created = (
        await gateway.post(f"{API}/api-keys", headers=bearer(admin_key), json={"name": "svc"})
    ).json()
    resp = await gateway.put(
        f"{API}/api-keys/{created['id']}",
        headers=bearer(admin_key),
        json={"name": "svc-renamed", "rate_limit": 10, "queues": ["x"]},
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["rate_limit"], resp.json()["queues"]) == (
        "svc-renamed",
        10,
        ["x"],
    )
    assert (
        await gateway.delete(f"{API}/api-keys/{created['id']}", headers=bearer(admin_key))
    ).status_code == 204
    listed = (await gateway.get(f"{API}/api-keys", headers=bearer(admin_key))).json()
    assert [k["is_active"] for k in listed if k["id"] == created["id"]] == [False]
    # Re-activation works (and is checked against the plan cap).
    resp = await gateway.put(
        f"{API}/api-keys/{created['id']}", headers=bearer(admin_key), json={"is_active": True}
    )
    assert resp.status_code == 200 and resp.json()["is_active"] is True
    assert (
        await gateway.get(f"{API}/organizations", headers=bearer(created["key"]))
    ).status_code == 200


async def test_other_orgs_keys_are_404(gateway: httpx.AsyncClient, org_factory: Any) -> None:
    _, mine = await org_factory()
    _, theirs = await org_factory()
    their_id = (await gateway.get(f"{API}/api-keys", headers=bearer(theirs))).json()[0]["id"]
    assert (
        await gateway.get(f"{API}/api-keys/{their_id}", headers=bearer(mine))
    ).status_code == 404
    assert (
        await gateway.put(
            f"{API}/api-keys/{their_id}", headers=bearer(mine), json={"name": "pwned"}
        )
    ).status_code == 404
    assert (
        await gateway.delete(f"{API}/api-keys/{their_id}", headers=bearer(mine))
    ).status_code == 404
    assert (await gateway.get(f"{API}/organizations", headers=bearer(theirs))).status_code == 200
    assert (
        await gateway.get(f"{API}/api-keys/does-not-exist", headers=bearer(mine))
    ).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad/name"}, "name"),
        ({"name": "ok", "queues": ["bad queue"]}, "queues.0"),
        ({"name": "ok", "queues": ["q"] * 51}, "queues"),
        ({"name": "ok", "queues": ["q" * 256]}, "queues.0"),
        ({"name": "ok", "rate_limit": 0}, "rate_limit"),
        ({"name": "ok", "rate_limit": 10_001}, "rate_limit"),
        ({"name": "ok", "rate_limit": "5"}, "rate_limit"),
        ({"name": "ok", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "ok", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "ok", "is_admin": True}, "is_admin"),
    ],
)
async def test_create_validation(
    gateway: httpx.AsyncClient, org_factory: Any, body: dict[str, Any], field: str
) -> None:
    _, key = await org_factory()
    resp = await gateway.post(f"{API}/api-keys", headers=bearer(key), json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "VALIDATION_ERROR"
    assert resp.json()["details"][0]["field"] == field


async def test_plan_cap_on_active_keys(gateway: httpx.AsyncClient, org_factory: Any) -> None:
    _, key = await org_factory()  # free plan: 2 active keys, the initial one included
    assert (
        await gateway.post(f"{API}/api-keys", headers=bearer(key), json={"name": "two"})
    ).status_code == 201
    resp = await gateway.post(f"{API}/api-keys", headers=bearer(key), json={"name": "three"})
    assert resp.status_code == 429
    body = resp.json()
    assert body["code"] == "QUOTA_EXCEEDED" and body["error"] == "limit_exceeded"
    assert (body["resource"], body["current"], body["limit"], body["plan"], body["upgrade_to"]) == (
        "api_keys",
        2,
        2,
        "free",
        "starter",
    )
    assert "Retry-After" not in resp.headers


async def test_scoped_keys_cannot_escalate(gateway: httpx.AsyncClient, org_factory: Any) -> None:
    _, admin_key = await org_factory()
    scoped = (
        await gateway.post(
            f"{API}/api-keys",
            headers=bearer(admin_key),
            json={"name": "scoped", "queues": ["a", "b"]},
        )
    ).json()
    h = bearer(scoped["key"])
    for queues in (None, ["*"], ["a", "c"]):
        body: dict[str, Any] = {"name": "child"}
        if queues is not None:
            body["queues"] = queues
        resp = await gateway.post(f"{API}/api-keys", headers=h, json=body)
        assert resp.status_code == 403, (queues, resp.text)
    assert (
        await gateway.put(f"{API}/api-keys/{scoped['id']}", headers=h, json={"queues": ["*"]})
    ).status_code == 403
    assert (await gateway.get(f"{API}/api-keys", headers=h)).status_code == 200
