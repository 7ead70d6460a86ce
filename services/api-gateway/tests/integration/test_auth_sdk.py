"""The official SDK (spooled==1.6.0) parses every identity endpoint we serve.

The SDK's own httpx client is pointed at the app in-process; nothing else in
it is changed, so request bodies and response models are exactly the SDK's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from spooled import AsyncSpooledClient
from spooled.errors import AuthenticationError, QuotaExceededError
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

ADMIN_KEY = "test-admin-key-0123456789abcdef"  # conftest.TEST_ADMIN_KEY


def sdk_client(app: Any, **kwargs: Any) -> AsyncSpooledClient:
    client = AsyncSpooledClient(base_url="http://gateway", **kwargs)
    http = client._http
    http._client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), headers=http._build_default_headers()
    )
    return client


@pytest.fixture
async def app_with_core(
    gateway_dsn: str, make_gateway_settings: Any, make_gateway_client: Any, fake_core: Any
) -> AsyncIterator[Any]:
    addr, core = fake_core
    async with make_gateway_client(make_gateway_settings(gateway_dsn, QUEUE_CORE_ADDR=addr)) as gw:
        yield gw.app, core


async def test_sdk_round_trip(app_with_core: Any, reserve_jobs: Any) -> None:
    app, core = app_with_core
    anon = sdk_client(app, admin_key=ADMIN_KEY)
    created = await anon.organizations.create(
        {"name": "SDK Co", "slug": "sdk-co", "billing_email": "sdk@co.test"}
    )
    org_id, raw = created.organization.id, created.api_key.key
    core.usage[org_id] = pb.Usage(jobs_today=3, active_jobs=1, queues=1, workers=1)
    await reserve_jobs(org_id, 3)  # jobs_today is billing's daily counter
    assert (await anon.organizations.check_slug("sdk-co")).available is False
    assert (await anon.organizations.generate_slug("Fresh Name")).slug == "fresh-name"

    client = sdk_client(app, api_key=raw)
    assert [o.slug for o in await client.organizations.list()] == ["sdk-co"]
    org = await client.organizations.update(org_id, {"name": "SDK Co 2"})
    assert org.name == "SDK Co 2" and (await client.organizations.get(org_id)).id == org_id
    usage = await client.organizations.get_usage()
    assert usage.plan == "free" and usage.usage.jobs_today.current == 3
    assert [m.role for m in await client.organizations.get_members(org_id)] == ["owner"]
    token = await client.organizations.get_webhook_token()
    assert (
        await client.organizations.regenerate_webhook_token()
    ).webhook_token != token.webhook_token

    key = await client.api_keys.create({"name": "worker", "queues": ["emails"], "rate_limit": 60})
    assert key.key.startswith("sp_test_")
    summaries = await client.api_keys.list()
    assert {s.name for s in summaries} == {"Initial Admin Key", "worker"}
    updated = await client.api_keys.update(key.id, {"name": "worker-2"})
    assert updated.name == "worker-2" and (await client.api_keys.get(key.id)).queues == ["emails"]
    with pytest.raises(QuotaExceededError):
        await client.api_keys.create({"name": "third"})
    await client.api_keys.delete(key.id)

    tokens = await client.auth.login({"api_key": raw})
    jwt_client = sdk_client(
        app, access_token=tokens.access_token, refresh_token=tokens.refresh_token
    )
    me = await jwt_client.auth.me()
    assert me.organization_id == org_id and me.organization and me.organization.slug == "sdk-co"
    assert (await client.auth.validate({"token": tokens.access_token})).organization_id == org_id
    assert (await client.auth.refresh({"refresh_token": tokens.refresh_token})).expires_in > 0
    await jwt_client.auth.logout(refresh_token=tokens.refresh_token)
    assert (await client.auth.validate({"token": tokens.access_token})).valid is False
    with pytest.raises(AuthenticationError):
        await sdk_client(app, access_token=tokens.access_token).auth.me()

    health = await client.health.get()
    assert health.status == "healthy" and health.database is True
    assert await client.health.liveness() and await client.health.readiness()


async def test_sdk_admin(app_with_core: Any) -> None:
    app, _ = app_with_core
    admin = sdk_client(app, admin_key=ADMIN_KEY).admin
    created = await admin.create_organization(
        {"name": "Admin Co", "slug": "admin-co", "plan_tier": "starter"}
    )
    org_id = created.organization.id
    assert [o.id for o in await admin.list_organizations()] == [org_id]
    assert (await admin.get_organization(org_id)).plan_tier == "starter"
    assert (await admin.update_organization(org_id, {"plan_tier": "pro"})).plan_tier == "pro"
    assert (await admin.create_api_key(org_id, {"name": "ops"})).key.startswith("sp_")
    await admin.reset_usage(org_id)
    stats = await admin.get_stats()
    assert stats.organizations.total == 1 and stats.system.api_version == "v1"
    assert [p.tier for p in await admin.list_plans()] == ["free", "starter", "pro", "enterprise"]
    await admin.delete_organization(org_id, hard=True)
    assert await admin.list_organizations() == []
