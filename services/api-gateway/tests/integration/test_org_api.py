"""/organizations over HTTP against a real Postgres (API.md §2.1, §11.1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

API = "/api/v1"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestCreate:
    async def test_created_org_and_initial_key(self, gateway: httpx.AsyncClient) -> None:
        resp = await gateway.post(
            f"{API}/organizations",
            json={"name": "Acme Corp", "slug": "acme-corp", "billing_email": "ops@acme.test"},
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        org, key = body["organization"], body["api_key"]
        assert set(org) == {
            "id",
            "name",
            "slug",
            "plan_tier",
            "billing_email",
            "settings",
            "custom_limits",
            "created_at",
            "updated_at",
            "stripe_customer_id",
            "stripe_subscription_id",
            "stripe_subscription_status",
            "stripe_current_period_end",
            "stripe_cancel_at_period_end",
        }
        assert (org["name"], org["slug"], org["plan_tier"]) == ("Acme Corp", "acme-corp", "free")
        assert org["created_at"].endswith("Z")
        assert "webhook_token" not in org["settings"]
        assert set(key) == {"id", "key", "name", "created_at"}
        assert key["name"] == "Initial Admin Key" and key["key"].startswith("sp_test_")
        me = await gateway.get(f"{API}/auth/me", headers=bearer(key["key"]))
        assert me.status_code == 200 and me.json()["organization"]["slug"] == "acme-corp"
        keys = (await gateway.get(f"{API}/api-keys", headers=bearer(key["key"]))).json()
        assert [(k["queues"], k["expires_at"], k["rate_limit"]) for k in keys] == [
            (["*"], None, None)
        ]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "Ac", "slug": "acme"}, "name"),
            ({"name": "A" * 101, "slug": "acme"}, "name"),
            ({"name": "Acme", "slug": "ac"}, "slug"),
            ({"name": "Acme", "slug": "a" * 51}, "slug"),
            ({"name": "Acme", "slug": "Acme"}, "slug"),
            ({"name": "Acme", "slug": "1acme"}, "slug"),
            ({"name": "Acme", "slug": "acme-"}, "slug"),
            ({"name": "Acme", "slug": "ac--me"}, "slug"),
            ({"name": "Acme", "slug": "admin"}, "slug"),
            ({"name": "Acme", "slug": "api"}, "slug"),
            ({"name": "Acme", "slug": "acme", "billing_email": "not-an-email"}, "billing_email"),
            ({"name": "Acme", "slug": "acme", "plan_tier": "pro"}, "plan_tier"),
            ({"slug": "acme"}, "name"),
        ],
    )
    async def test_validation(
        self, gateway: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        resp = await gateway.post(f"{API}/organizations", json=body)
        assert resp.status_code == 400, resp.text
        err = resp.json()
        assert err["code"] == "VALIDATION_ERROR"
        assert err["details"][0]["field"] == field

    async def test_reserved_slug_message(self, gateway: httpx.AsyncClient) -> None:
        resp = await gateway.post(f"{API}/organizations", json={"name": "Acme", "slug": "admin"})
        assert "reserved" in resp.json()["message"]

    async def test_duplicates_conflict(self, gateway: httpx.AsyncClient) -> None:
        first = {"name": "Acme", "slug": "dup-slug", "billing_email": "a@b.test"}
        assert (await gateway.post(f"{API}/organizations", json=first)).status_code == 201
        resp = await gateway.post(f"{API}/organizations", json=first)
        assert resp.status_code == 409
        assert resp.json() == {
            "code": "CONFLICT",
            "message": "Organization with this slug already exists",
        }
        other = {"name": "Acme", "slug": "other-slug", "billing_email": "A@B.test"}
        resp = await gateway.post(f"{API}/organizations", json=other)
        assert resp.status_code == 409 and "billing email" in resp.json()["message"]


class TestRegistrationModes:
    async def test_closed_and_invite(
        self, gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any
    ) -> None:
        body = {"name": "Acme", "slug": "closed-one"}
        async with make_gateway_client(
            make_gateway_settings(
                gateway_dsn, REGISTRATION_MODE="closed", ADMIN_API_KEY="adm-key-123"
            )
        ) as gw:
            assert (await gw.post(f"{API}/organizations", json=body)).status_code == 403
            resp = await gw.post(
                f"{API}/organizations", json=body, headers={"X-Admin-Key": "wrong"}
            )
            assert resp.status_code == 403
            resp = await gw.post(
                f"{API}/organizations", json=body, headers={"X-Admin-Key": "adm-key-123"}
            )
            assert resp.status_code == 201
        async with make_gateway_client(
            make_gateway_settings(gateway_dsn, REGISTRATION_MODE="invite")
        ) as gw:
            resp = await gw.post(
                f"{API}/organizations",
                json={"name": "Acme", "slug": "inv-one"},
                headers={"X-Admin-Key": "adm-key-123"},
            )
            assert resp.status_code == 403 and resp.json()["code"] == "ACCESS_DENIED"


class TestOwnOrganization:
    async def test_get_list_update_and_other_orgs_are_404(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        org, key = await org_factory(slug="mine")
        other, _ = await org_factory(slug="theirs")
        h = bearer(key)
        assert (await gateway.get(f"{API}/organizations/{org['id']}", headers=h)).json()[
            "slug"
        ] == "mine"
        listed = (await gateway.get(f"{API}/organizations", headers=h)).json()
        assert listed == [{k: org[k] for k in ("id", "name", "slug", "plan_tier", "created_at")}]
        for method in ("GET", "PUT", "DELETE"):
            resp = await gateway.request(
                method,
                f"{API}/organizations/{other['id']}",
                headers=h,
                json={"name": "Hijack"} if method == "PUT" else None,
            )
            assert resp.status_code == 404, (method, resp.text)
        resp = await gateway.get(f"{API}/organizations/{other['id']}/members", headers=h)
        assert resp.status_code == 404
        resp = await gateway.put(
            f"{API}/organizations/{org['id']}",
            headers=h,
            json={
                "name": "Renamed Inc",
                "settings": {"theme": "dark", "webhook_token": "whk_forged"},
            },
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["name"] == "Renamed Inc"
        assert resp.json()["settings"] == {"theme": "dark"}
        token = (await gateway.get(f"{API}/organizations/webhook-token", headers=h)).json()
        assert token["webhook_token"].startswith("whk_") and token["webhook_token"] != "whk_forged"
        resp = await gateway.put(
            f"{API}/organizations/{org['id']}", headers=h, json={"plan_tier": "enterprise"}
        )
        assert resp.status_code == 400

    async def test_unauthenticated(self, gateway: httpx.AsyncClient) -> None:
        resp = await gateway.get(f"{API}/organizations")
        assert resp.status_code == 401
        assert resp.json() == {
            "code": "UNAUTHORIZED",
            "message": "Missing or invalid Authorization header",
        }

    async def test_members(self, gateway: httpx.AsyncClient, org_factory: Any) -> None:
        org, key = await org_factory(billing_email="boss@members.test")
        created = await gateway.post(
            f"{API}/api-keys", headers=bearer(key), json={"name": "worker", "queues": ["emails"]}
        )
        members = (
            await gateway.get(f"{API}/organizations/{org['id']}/members", headers=bearer(key))
        ).json()
        assert [(m["name"], m["role"], m["email"]) for m in members] == [
            ("Initial Admin Key", "owner", "boss@members.test"),
            ("worker", "member", "boss@members.test"),
        ]
        assert members[1]["user_id"] == created.json()["id"]

    async def test_restricted_keys_cannot_manage_the_org(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        org, key = await org_factory()
        scoped = (
            await gateway.post(
                f"{API}/api-keys", headers=bearer(key), json={"name": "scoped", "queues": ["q1"]}
            )
        ).json()["key"]
        h = bearer(scoped)
        assert (await gateway.get(f"{API}/organizations/{org['id']}", headers=h)).status_code == 200
        for method, path in [
            ("PUT", f"/organizations/{org['id']}"),
            ("GET", "/organizations/usage"),
            ("GET", "/organizations/webhook-token"),
            ("DELETE", f"/organizations/{org['id']}"),
        ]:
            resp = await gateway.request(
                method, API + path, headers=h, json={} if method == "PUT" else None
            )
            assert resp.status_code == 403, (method, path, resp.text)


class TestWebhookToken:
    async def test_get_regenerate_clear(self, gateway: httpx.AsyncClient, org_factory: Any) -> None:
        org, key = await org_factory()
        h = bearer(key)
        first = (await gateway.get(f"{API}/organizations/webhook-token", headers=h)).json()
        assert first["webhook_url"].endswith(f"/api/v1/webhooks/{org['id']}/custom")
        resp = await gateway.post(f"{API}/organizations/webhook-token/regenerate", headers=h)
        second = resp.json()
        assert resp.status_code == 200 and second["webhook_token"] != first["webhook_token"]
        assert second["webhook_token"].startswith("whk_")
        resp = await gateway.post(f"{API}/organizations/webhook-token/clear", headers=h)
        assert resp.status_code == 400 and resp.json()["code"] == "BAD_REQUEST"

        from spooled_gateway.orgs import service

        pool = gateway.app.state.db  # type: ignore[attr-defined]
        assert await service.verify_webhook_token(pool, org["id"], second["webhook_token"])
        assert not await service.verify_webhook_token(pool, org["id"], first["webhook_token"])
        assert not await service.verify_webhook_token(pool, "nope", second["webhook_token"])


class TestSlugs:
    async def test_check_slug(self, gateway: httpx.AsyncClient, org_factory: Any) -> None:
        await org_factory(slug="taken-slug")
        taken = (
            await gateway.get(f"{API}/organizations/check-slug", params={"slug": "taken-slug"})
        ).json()
        assert taken["available"] is False and taken["valid"] is True
        assert taken["suggestion"].startswith("taken-slug-")
        free = (
            await gateway.get(f"{API}/organizations/check-slug", params={"slug": "free-slug"})
        ).json()
        assert free == {"available": True, "valid": True}
        bad = (
            await gateway.get(f"{API}/organizations/check-slug", params={"slug": "Admin"})
        ).json()
        assert bad["valid"] is False and bad["available"] is False and bad["error"]
        missing = await gateway.get(f"{API}/organizations/check-slug")
        assert missing.status_code == 400

    async def test_generate_slug(self, gateway: httpx.AsyncClient, org_factory: Any) -> None:
        resp = await gateway.post(
            f"{API}/organizations/generate-slug", json={"name": "My Great Company!"}
        )
        assert resp.json() == {"slug": "my-great-company"}
        await org_factory(slug="my-great-company")
        again = (
            await gateway.post(
                f"{API}/organizations/generate-slug", json={"name": "My Great Company!"}
            )
        ).json()["slug"]
        assert again.startswith("my-great-company-")
        resp = await gateway.post(f"{API}/organizations/generate-slug", json={"name": ""})
        assert resp.status_code == 400


class TestUsageAndDelete:
    async def test_queue_core_down_is_503(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        org, key = await org_factory()
        resp = await gateway.get(f"{API}/organizations/usage", headers=bearer(key))
        assert resp.status_code == 503 and resp.json()["code"] == "SERVICE_UNAVAILABLE"
        # Deleting needs queue-core's word that nothing is running.
        resp = await gateway.delete(f"{API}/organizations/{org['id']}", headers=bearer(key))
        assert resp.status_code == 503

    async def test_usage_and_delete_with_queue_core(
        self,
        gateway_dsn: str,
        make_gateway_settings: Any,
        make_gateway_client: Any,
        fake_core: Any,
        reserve_jobs: Any,
    ) -> None:
        addr, core = fake_core
        async with make_gateway_client(
            make_gateway_settings(gateway_dsn, QUEUE_CORE_ADDR=addr)
        ) as gw:
            resp = await gw.post(f"{API}/organizations", json={"name": "Busy", "slug": "busy"})
            org, key = resp.json()["organization"], resp.json()["api_key"]["key"]
            await reserve_jobs(org["id"], 600)  # jobs_today is billing's daily counter
            core.usage[org["id"]] = pb.Usage(
                jobs_today=600,
                active_jobs=3,
                queues=2,
                workers=1,
                total_jobs=900,
                pending=2,
                processing=1,
            )
            resp = await gw.get(f"{API}/organizations/usage", headers=bearer(key))
            assert resp.status_code == 200, resp.text
            info = resp.json()
            assert info["plan"] == "free" and info["limits"]["max_jobs_per_day"] == 1000
            assert info["usage"]["jobs_today"]["current"] == 600
            assert info["usage"]["api_keys"]["current"] == 1
            assert info["usage"]["queues"]["percentage"] == 100.0
            assert {
                "resource": "queues",
                "severity": "critical",
                "message": "Queues limit reached (2/2)",
            } in info["warnings"]
            assert ("GetUsage", org["id"]) in core.calls

            resp = await gw.delete(f"{API}/organizations/{org['id']}", headers=bearer(key))
            assert resp.status_code == 409
            assert resp.json()["details"] == {"active_jobs": 3, "workers": 1}

            core.usage[org["id"]] = pb.Usage(jobs_today=600, total_jobs=900)
            resp = await gw.delete(f"{API}/organizations/{org['id']}", headers=bearer(key))
            assert resp.status_code == 204
            resp = await gw.get(f"{API}/organizations", headers=bearer(key))
            assert resp.status_code == 401
            # The slug is free again.
            resp = await gw.get(f"{API}/organizations/check-slug", params={"slug": "busy"})
            assert resp.json()["available"] is True
