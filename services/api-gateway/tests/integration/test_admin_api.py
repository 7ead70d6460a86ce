"""/admin over HTTP (API.md §11.3): X-Admin-Key, org lifecycle, keys, stats, plans."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

API = "/api/v1"
ADMIN_KEY = "test-admin-key-0123456789abcdef"  # conftest.TEST_ADMIN_KEY
ADMIN = {"X-Admin-Key": ADMIN_KEY}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestAdminAuth:
    @pytest.mark.parametrize(
        ("headers", "error"),
        [
            ({}, "missing_admin_key"),
            ({"X-Admin-Key": "wrong"}, "invalid_admin_key"),
            ({"X-Admin-Key": ADMIN_KEY + "x"}, "invalid_admin_key"),
        ],
    )
    async def test_missing_or_wrong(
        self, gateway: httpx.AsyncClient, headers: dict[str, str], error: str
    ) -> None:
        for path in ("/admin/organizations", "/admin/stats", "/admin/plans"):
            resp = await gateway.get(API + path, headers=headers)
            assert resp.status_code == 401
            assert resp.json()["error"] == error and resp.json()["code"] == "UNAUTHORIZED"

    async def test_not_configured(
        self, gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any
    ) -> None:
        async with make_gateway_client(
            make_gateway_settings(gateway_dsn, ADMIN_API_KEY=None)
        ) as gw:
            resp = await gw.get(f"{API}/admin/plans", headers=ADMIN)
            assert resp.status_code == 401 and resp.json()["error"] == "admin_not_configured"

    async def test_api_keys_are_not_admin_keys(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, key = await org_factory()
        resp = await gateway.get(f"{API}/admin/plans", headers=bearer(key))
        assert resp.status_code == 401


async def test_plans(gateway: httpx.AsyncClient) -> None:
    plans = (await gateway.get(f"{API}/admin/plans", headers=ADMIN)).json()
    assert [p["tier"] for p in plans] == ["free", "starter", "pro", "enterprise"]
    assert plans[1]["max_api_keys"] == 5 and plans[3]["max_queues"] is None


async def test_org_lifecycle_without_queue_core(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post(
        f"{API}/admin/organizations",
        headers=ADMIN,
        json={
            "name": "Big Co",
            "slug": "big-co",
            "plan_tier": "pro",
            "custom_limits": {"max_api_keys": 3},
            "settings": {"region": "eu"},
        },
    )
    assert resp.status_code == 201, resp.text
    org, key = resp.json()["organization"], resp.json()["api_key"]
    assert org["plan_tier"] == "pro" and org["custom_limits"] == {"max_api_keys": 3}
    assert org["settings"] == {"region": "eu"}
    assert (
        await gateway.post(
            f"{API}/admin/organizations", headers=ADMIN, json={"name": "Big Co", "slug": "big-co"}
        )
    ).status_code == 409

    listing = (
        await gateway.get(
            f"{API}/admin/organizations",
            headers=ADMIN,
            params={"search": "big", "plan_tier": "pro"},
        )
    ).json()
    assert listing["total"] == 1 and (listing["limit"], listing["offset"]) == (50, 0)
    item = listing["organizations"][0]
    # queue-core is down: its counters are unknown (null); ours and billing's
    # daily counter are exact.
    assert item["usage"] == {
        "jobs_today": 0,
        "active_jobs": None,
        "queues": None,
        "workers": None,
        "api_keys": 1,
    }
    detail = (await gateway.get(f"{API}/admin/organizations/{org['id']}", headers=ADMIN)).json()
    assert detail["api_keys_count"] == 1 and detail["usage_info"] is None
    assert detail["slug"] == "big-co"

    resp = await gateway.patch(
        f"{API}/admin/organizations/{org['id']}",
        headers=ADMIN,
        json={"plan_tier": "starter", "custom_limits": None},
    )
    assert resp.status_code == 200
    assert (resp.json()["plan_tier"], resp.json()["custom_limits"]) == ("starter", None)
    resp = await gateway.patch(
        f"{API}/admin/organizations/{org['id']}",
        headers=ADMIN,
        json={"billing_email": "billing@big.test"},
    )
    assert resp.json()["plan_tier"] == "starter"
    assert resp.json()["billing_email"] == "billing@big.test"
    assert (
        await gateway.patch(
            f"{API}/admin/organizations/{org['id']}", headers=ADMIN, json={"plan_tier": "gold"}
        )
    ).status_code == 400

    resp = await gateway.post(
        f"{API}/admin/organizations/{org['id']}/api-keys",
        headers=ADMIN,
        json={"name": "ops", "queues": ["q1"]},
    )
    assert resp.status_code == 201 and resp.json()["key"].startswith("sp_test_")
    assert (
        await gateway.post(f"{API}/admin/organizations/{org['id']}/reset-usage", headers=ADMIN)
    ).status_code == 204

    # Soft delete: the org stays (plan_tier "deleted") and its keys stop working.
    assert (
        await gateway.delete(f"{API}/admin/organizations/{org['id']}", headers=ADMIN)
    ).status_code == 204
    resp = await gateway.get(f"{API}/organizations", headers=bearer(key["key"]))
    assert resp.status_code == 401
    detail = (await gateway.get(f"{API}/admin/organizations/{org['id']}", headers=ADMIN)).json()
    assert detail["plan_tier"] == "deleted"
    assert (
        await gateway.post(
            f"{API}/admin/organizations/{org['id']}/api-keys", headers=ADMIN, json={"name": "late"}
        )
    ).status_code == 404
    # Hard delete removes it.
    assert (
        await gateway.delete(
            f"{API}/admin/organizations/{org['id']}", headers=ADMIN, params={"hard_delete": "true"}
        )
    ).status_code == 204
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/reset-usage")]:
        resp = await gateway.request(
            method,
            f"{API}/admin/organizations/{org['id']}{path}",
            headers=ADMIN,
            json={} if method == "PATCH" else None,
        )
        assert resp.status_code == 404, (method, path)


async def test_list_validation_and_sorting(gateway: httpx.AsyncClient) -> None:
    for slug in ("sort-b", "sort-a", "sort-c"):
        await gateway.post(
            f"{API}/admin/organizations", headers=ADMIN, json={"name": slug.upper(), "slug": slug}
        )
    page = (
        await gateway.get(
            f"{API}/admin/organizations",
            headers=ADMIN,
            params={"search": "sort-", "sort_by": "slug", "sort_order": "asc", "limit": 2},
        )
    ).json()
    assert [o["slug"] for o in page["organizations"]] == ["sort-a", "sort-b"]
    assert page["total"] == 3
    for params in ({"limit": 0}, {"limit": 101}, {"sort_by": "id; DROP"}, {"offset": -1}):
        resp = await gateway.get(f"{API}/admin/organizations", headers=ADMIN, params=params)
        assert resp.status_code == 400, params
    # LIKE wildcards in the search are literal.
    none = (
        await gateway.get(f"{API}/admin/organizations", headers=ADMIN, params={"search": "%"})
    ).json()
    assert none["total"] == 0


async def test_stats_and_usage_with_queue_core(
    gateway_dsn: str,
    make_gateway_settings: Any,
    make_gateway_client: Any,
    fake_core: Any,
    reserve_jobs: Any,
) -> None:
    addr, core = fake_core
    async with make_gateway_client(make_gateway_settings(gateway_dsn, QUEUE_CORE_ADDR=addr)) as gw:
        ids = []
        for slug, tier in (("st-one", "free"), ("st-two", "pro")):
            resp = await gw.post(
                f"{API}/admin/organizations",
                headers=ADMIN,
                json={"name": slug, "slug": slug, "plan_tier": tier},
            )
            ids.append(resp.json()["organization"]["id"])
        await reserve_jobs(ids[0], 5)  # jobs_today is billing's daily counter
        core.usage[ids[0]] = pb.Usage(
            jobs_today=9, active_jobs=3, queues=1, workers=1, total_jobs=40, pending=2, processing=1
        )
        core.usage[ids[1]] = pb.Usage(active_jobs=4, workers=2, total_jobs=7, pending=4)
        stats = (await gw.get(f"{API}/admin/stats", headers=ADMIN)).json()
        assert stats["organizations"]["total"] == 2
        assert stats["organizations"]["created_today"] == 2
        assert sorted(map(tuple, (d.values() for d in stats["organizations"]["by_plan"]))) == [
            ("free", 1),
            ("pro", 1),
        ]
        assert {k: stats["jobs"][k] for k in ("total_active", "pending", "processing")} == {
            "total_active": 7,
            "pending": 6,
            "processing": 1,
        }
        assert stats["workers"]["total"] == 3
        assert stats["system"]["api_version"] == "v1"
        assert stats["system"]["uptime_seconds"] >= 0

        detail = (await gw.get(f"{API}/admin/organizations/{ids[0]}", headers=ADMIN)).json()
        assert detail["total_jobs"] == 40
        assert detail["usage_info"]["usage"]["jobs_today"]["current"] == 5
        listing = (await gw.get(f"{API}/admin/organizations", headers=ADMIN)).json()
        usage = {o["id"]: o["usage"] for o in listing["organizations"]}
        assert usage[ids[1]]["active_jobs"] == 4 and usage[ids[1]]["api_keys"] == 1
        # jobs_today is billing's counter (5), not queue-core's row count (9).
        assert (usage[ids[0]]["jobs_today"], usage[ids[1]]["jobs_today"]) == (5, 0)


async def test_stats_without_queue_core_is_503(gateway: httpx.AsyncClient) -> None:
    await gateway.post(
        f"{API}/admin/organizations", headers=ADMIN, json={"name": "Lonely", "slug": "lonely"}
    )
    resp = await gateway.get(f"{API}/admin/stats", headers=ADMIN)
    assert resp.status_code == 503
