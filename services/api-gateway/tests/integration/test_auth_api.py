"""Authentication over HTTP: API keys, JWT sessions, login throttling (API.md §2)."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from spooled_gateway.auth import authenticate_api_key

API = "/api/v1"
#: gateway_settings() does not set JWT_SECRET, so the app uses the dev default.
SECRET = "development-secret-change-in-production"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(gw: httpx.AsyncClient, key: str) -> dict[str, Any]:
    resp = await gw.post(f"{API}/auth/login", json={"api_key": key})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def assert_401(gw: httpx.AsyncClient, token: str, message: str | None = None) -> None:
    resp = await gw.get(f"{API}/organizations", headers=bearer(token))
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["code"] == "UNAUTHORIZED"
    if message is not None:
        assert body["message"] == message


class TestApiKeys:
    @pytest.mark.parametrize(
        ("header", "message"),
        [
            ({}, "Missing or invalid Authorization header"),
            ({"Authorization": "Basic abc"}, "Missing or invalid Authorization header"),
            ({"Authorization": "Bearer "}, "Missing or invalid Authorization header"),
            ({"Authorization": "Bearer not-a-key"}, "Invalid API key"),
            ({"Authorization": "Bearer sp_test_" + "A" * 43}, "Invalid API key"),
            ({"Authorization": "Bearer sk_live_" + "B" * 43}, "Invalid API key"),
        ],
    )
    async def test_garbage(
        self, gateway: httpx.AsyncClient, header: dict[str, str], message: str
    ) -> None:
        resp = await gateway.get(f"{API}/api-keys", headers=header)
        assert resp.status_code == 401
        assert resp.json() == {"code": "UNAUTHORIZED", "message": message}

    async def test_revoked_key_stops_at_once(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, admin_key = await org_factory()
        created = (
            await gateway.post(f"{API}/api-keys", headers=bearer(admin_key), json={"name": "temp"})
        ).json()
        assert (
            await gateway.get(f"{API}/organizations", headers=bearer(created["key"]))
        ).status_code == 200  # now cached
        resp = await gateway.delete(f"{API}/api-keys/{created['id']}", headers=bearer(admin_key))
        assert resp.status_code == 204
        await assert_401(gateway, created["key"], "API key has been revoked")

    async def test_expired_key(self, gateway: httpx.AsyncClient, org_factory: Any) -> None:
        org, admin_key = await org_factory()
        created = (
            await gateway.post(
                f"{API}/api-keys",
                headers=bearer(admin_key),
                json={"name": "short", "expires_at": "2999-01-01T00:00:00Z"},
            )
        ).json()
        pool = gateway.app.state.db  # type: ignore[attr-defined]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org["id"])
            await conn.execute(
                "UPDATE gateway.api_keys SET expires_at = now() - interval '1s' WHERE id = $1",
                created["id"],
            )
        from spooled_gateway.auth import invalidate

        invalidate()
        await assert_401(gateway, created["key"], "API key has expired")

    async def test_legacy_prefix_and_grpc_helper(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        org, key = await org_factory()
        pool = gateway.app.state.db  # type: ignore[attr-defined]
        principal = await authenticate_api_key(pool, f"  {key}\n")
        assert (principal.org_id, principal.via, principal.queues) == (org["id"], "api_key", ("*",))
        assert principal.unrestricted and principal.plan_tier == "free"
        # A legacy sk_ key stored by hash authenticates the same way.
        from spooled_gateway.auth import keys

        legacy = "sk_test_" + "L" * 43
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org["id"])
            await conn.execute(
                "INSERT INTO gateway.api_keys (organization_id, name, lookup_hash, key_prefix,"
                " queues) VALUES ($1, 'legacy', $2, $3, '{}')",
                org["id"],
                keys.lookup_hash(legacy),
                legacy[:12],
            )
        assert (await authenticate_api_key(pool, legacy)).org_id == org["id"]

    async def test_last_used_is_written_off_the_request_path(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        import asyncio

        _, key = await org_factory()
        await gateway.get(f"{API}/organizations", headers=bearer(key))
        for _ in range(50):
            keys = (await gateway.get(f"{API}/api-keys", headers=bearer(key))).json()
            if keys[0]["last_used"]:
                break
            await asyncio.sleep(0.05)
        assert keys[0]["last_used"] is not None


class TestJwt:
    async def test_login_refresh_me_validate_logout(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        org, key = await org_factory(slug="jwt-org")
        tokens = await login(gateway, key)
        assert tokens["token_type"] == "Bearer"
        assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (86_400, 86_400 * 24)
        access, refresh = tokens["access_token"], tokens["refresh_token"]

        me = await gateway.get(f"{API}/auth/me", headers=bearer(access))
        assert me.status_code == 200
        body = me.json()
        assert body["organization_id"] == org["id"] and body["queues"] == ["*"]
        assert body["organization"]["slug"] == "jwt-org"
        assert body["issued_at"].endswith("Z") and body["expires_at"].endswith("Z")

        valid = (await gateway.post(f"{API}/auth/validate", json={"token": access})).json()
        assert valid["valid"] is True and valid["claims"]["org_id"] == org["id"]
        assert valid["claims"]["token_type"] == "access"

        resp = await gateway.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
        assert resp.status_code == 200, resp.text
        new_access = resp.json()["access_token"]
        assert resp.json()["expires_in"] == 86_400
        assert (
            await gateway.get(f"{API}/organizations", headers=bearer(new_access))
        ).status_code == 200

        resp = await gateway.post(f"{API}/auth/logout", headers=bearer(access))
        assert resp.status_code == 204
        # The whole session is gone: the token used, its sibling refresh token,
        # and the access token the refresh produced.
        await assert_401(gateway, access, "Token has been revoked")
        await assert_401(gateway, new_access, "Token has been revoked")
        resp = await gateway.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
        assert resp.status_code == 401
        assert (await gateway.post(f"{API}/auth/validate", json={"token": access})).json() == {
            "valid": False,
            "error": "Token has been revoked",
        }
        # The API key itself still works.
        assert (await gateway.get(f"{API}/organizations", headers=bearer(key))).status_code == 200

    async def test_logout_with_api_key_and_refresh_token_body(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, key = await org_factory()
        tokens = await login(gateway, key)
        resp = await gateway.post(
            f"{API}/auth/logout",
            headers=bearer(key),
            json={"refresh_token": tokens["refresh_token"]},
        )
        assert resp.status_code == 204
        await assert_401(gateway, tokens["access_token"], "Token has been revoked")
        # No body at all (what the SDK sends without a refresh token) is fine too.
        resp = await gateway.post(
            f"{API}/auth/logout", headers={**bearer(key), "Content-Type": "application/json"}
        )
        assert resp.status_code == 204

    async def test_refresh_token_is_not_an_access_token(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, key = await org_factory()
        tokens = await login(gateway, key)
        await assert_401(gateway, tokens["refresh_token"], "Invalid token type")
        resp = await gateway.post(
            f"{API}/auth/refresh", json={"refresh_token": tokens["access_token"]}
        )
        assert resp.status_code == 401

    async def test_forged_and_expired_tokens(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, key = await org_factory()
        tokens = await login(gateway, key)
        claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"])
        now = int(time.time())
        forged = [
            jwt.encode(claims, None, algorithm="none"),
            jwt.encode(claims, "x" * 64, algorithm="HS512"),
            jwt.encode(claims, SECRET + "-other", algorithm="HS256"),
            jwt.encode(
                {**claims, "exp": now - 10, "iat": now - 100, "nbf": now - 100},
                SECRET,
                algorithm="HS256",
            ),
            tokens["access_token"][:-4] + "AAAA",
            "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.bogus",
        ]
        for token in forged:
            await assert_401(gateway, token, "Invalid token")
            assert (await gateway.post(f"{API}/auth/validate", json={"token": token})).json()[
                "valid"
            ] is False
        # A well-signed token naming a key of another org is refused too.
        _, other_key = await org_factory()
        other = jwt.decode(
            (await login(gateway, other_key))["access_token"], SECRET, algorithms=["HS256"]
        )
        mixed = jwt.encode({**claims, "api_key_id": other["api_key_id"]}, SECRET, algorithm="HS256")
        await assert_401(gateway, mixed, "Invalid token")

    async def test_revoked_key_kills_its_tokens(
        self, gateway: httpx.AsyncClient, org_factory: Any
    ) -> None:
        _, admin_key = await org_factory()
        created = (
            await gateway.post(
                f"{API}/api-keys",
                headers=bearer(admin_key),
                json={"name": "jwt user", "queues": ["a"]},
            )
        ).json()
        tokens = await login(gateway, created["key"])
        me = (await gateway.get(f"{API}/auth/me", headers=bearer(tokens["access_token"]))).json()
        assert me["queues"] == ["a"]
        # Re-scoping applies to live tokens: the key is re-read.
        await gateway.put(
            f"{API}/api-keys/{created['id']}",
            headers=bearer(admin_key),
            json={"queues": ["a", "b"]},
        )
        me = (await gateway.get(f"{API}/auth/me", headers=bearer(tokens["access_token"]))).json()
        assert me["queues"] == ["a", "b"]
        await gateway.delete(f"{API}/api-keys/{created['id']}", headers=bearer(admin_key))
        await assert_401(gateway, tokens["access_token"], "API key has been revoked")
        resp = await gateway.post(
            f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert resp.status_code == 401

    async def test_revocation_is_stored_for_other_replicas(
        self, gateway: httpx.AsyncClient, gateway_dsn: str, org_factory: Any
    ) -> None:
        _, key = await org_factory()
        tokens = await login(gateway, key)
        claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"])
        await gateway.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))
        conn = await asyncpg.connect(gateway_dsn)
        try:
            rows = await conn.fetch("SELECT token_id, kind FROM gateway.revoked_tokens")
        finally:
            await conn.close()
        assert {(r["token_id"], r["kind"]) for r in rows} >= {
            (claims["jti"], "jti"),
            (claims["sid"], "sid"),
        }


class TestLogin:
    async def test_bad_credentials_body(self, gateway: httpx.AsyncClient) -> None:
        resp = await gateway.post(f"{API}/auth/login", json={"api_key": "sp_test_nope-nope"})
        assert resp.status_code == 401
        assert resp.json() == {
            "code": "UNAUTHORIZED",
            "error": "unauthorized",
            "message": "Invalid credentials",
        }
        resp = await gateway.post(f"{API}/auth/login", json={"api_key": "short"})
        assert resp.status_code == 400
        resp = await gateway.post(
            f"{API}/auth/login", json={"api_key": "sp_test_nope-nope", "extra": 1}
        )
        assert resp.status_code == 400

    async def test_lockout_after_five_failures_per_ip(
        self, gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any
    ) -> None:
        settings = make_gateway_settings(gateway_dsn)
        async with (
            make_gateway_client(settings, client_ip="203.0.113.7") as gw,
            make_gateway_client(settings, client_ip="203.0.113.8") as other_ip,
        ):
            resp = await gw.post(f"{API}/organizations", json={"name": "Lock", "slug": "lock"})
            good_key = resp.json()["api_key"]["key"]
            for _ in range(5):
                resp = await gw.post(f"{API}/auth/login", json={"api_key": "sp_test_wrong-key"})
                assert resp.status_code == 401
            for attempt in ("sp_test_wrong-key", good_key):
                resp = await gw.post(f"{API}/auth/login", json={"api_key": attempt})
                assert resp.status_code == 429
                body = resp.json()
                assert body["error"] == "rate_limit_exceeded"
                assert body["code"] == "RATE_LIMIT_EXCEEDED"
                retry = int(resp.headers["Retry-After"])
                assert 1 <= retry <= 60 and body["details"]["retry_after_seconds"] == retry
            # Another client is unaffected.
            assert (
                await other_ip.post(f"{API}/auth/login", json={"api_key": good_key})
            ).status_code == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any
) -> None:
    settings = make_gateway_settings(gateway_dsn, SPOOLED_TRUSTED_PROXIES="10.0.0.0/8, bogus")
    async with (
        make_gateway_client(settings, client_ip="10.1.2.3") as via_proxy,
        make_gateway_client(settings, client_ip="198.51.100.9") as direct,
    ):

        def xff(ip: str) -> dict[str, str]:
            return {"X-Forwarded-For": f"{ip}, 10.9.9.9"}

        for _ in range(5):
            await via_proxy.post(
                f"{API}/auth/login", json={"api_key": "sp_test_wrong-key"}, headers=xff("192.0.2.1")
            )
        # 192.0.2.1 is locked out behind the proxy; another client behind it is not.
        resp = await via_proxy.post(
            f"{API}/auth/login", json={"api_key": "sp_test_wrong-key"}, headers=xff("192.0.2.1")
        )
        assert resp.status_code == 429
        resp = await via_proxy.post(
            f"{API}/auth/login", json={"api_key": "sp_test_wrong-key"}, headers=xff("192.0.2.2")
        )
        assert resp.status_code == 401
        # An untrusted peer's header is ignored: it is not taken for the locked-out client.
        resp = await direct.post(
            f"{API}/auth/login",
            json={"api_key": "sp_test_wrong-key"},
            headers={"X-Forwarded-For": "192.0.2.1"},
        )
        assert resp.status_code == 401
