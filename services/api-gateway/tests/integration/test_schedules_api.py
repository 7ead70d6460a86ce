"""``/schedules`` (API.md §8) end to end: gateway in-process → the scheduler over
real gRPC → the real queue-core process → real Postgres.

Auth is the ``X-Test-Org`` override of ``core_stack`` except in
``TestRealAuth``; the scheduler runs in this process on the system clock with
its firing loop on (``test_cron_fires_for_real``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from spooled.types.schedules import (
    CreateScheduleResponse,
    Schedule,
    ScheduleRun,
    TriggerScheduleResponse,
)
from spooled_common.migrate import migrate
from spooled_gateway.app import create_app
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.orgs import plans
from spooled_gateway.settings import GatewaySettings
from spooled_scheduler import db as scheduler_db
from spooled_scheduler.app import SchedulerApp
from spooled_scheduler.settings import SchedulerSettings

if TYPE_CHECKING:
    from core_stack import Core

pytest_plugins = ["core_stack"]


def _stack() -> Any:
    """``core_stack``, imported after pytest loaded it as a plugin (assert rewriting)."""
    import core_stack

    return core_stack


def client_for(app: FastAPI, org: str, queues: tuple[str, ...] = ()) -> httpx.AsyncClient:
    return _stack().client_for(app, org, queues)  # type: ignore[no-any-return]


SCHEDULE_FIELDS = {
    "id",
    "organization_id",
    "name",
    "description",
    "cron_expression",
    "timezone",
    "queue_name",
    "payload_template",
    "priority",
    "max_retries",
    "timeout_seconds",
    "is_active",
    "last_run_at",
    "next_run_at",
    "run_count",
    "tags",
    "metadata",
    "created_at",
    "updated_at",
    "missed_run_policy",
    "catch_up_limit",
    "overlap_policy",
}
RUN_FIELDS = {
    "id",
    "schedule_id",
    "job_id",
    "status",
    "error_message",
    "started_at",
    "completed_at",
    "scheduled_for",
    "kind",
}
#: Bigger than the payload cap core_stack configures (64 KiB).
OVER_LIMIT = 70_000


@pytest.fixture(scope="module")
async def scheduler(queue_core: Core) -> AsyncIterator[SchedulerApp]:
    """The scheduler service in this process, firing for real (system clock)."""
    await migrate(queue_core.dsn, scheduler_db.SCHEMA, scheduler_db.MIGRATIONS)
    settings = SchedulerSettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": queue_core.dsn,
            "QUEUE_CORE_ADDR": queue_core.addr,
            "SPOOLED_INTERNAL_TOKEN": _stack().INTERNAL_TOKEN,
            "SCHEDULER_GRPC_HOST": "127.0.0.1",
            "SCHEDULER_GRPC_PORT": 0,
            "SCHEDULER_HTTP_HOST": "127.0.0.1",
            "SCHEDULER_HTTP_PORT": 0,
            "SCHEDULER_POLL_INTERVAL_SECS": 0.2,
            "DATABASE_MIN_CONNECTIONS": 1,
            "DATABASE_MAX_CONNECTIONS": 4,
        }
    )
    app = SchedulerApp(settings)
    await app.start()
    yield app
    await app.stop()


def gateway_settings(core: Core, scheduler_addr: str) -> GatewaySettings:
    return GatewaySettings(
        **{  # type: ignore[arg-type]
            "DATABASE_URL": core.dsn,
            "QUEUE_CORE_ADDR": core.addr,
            "GRPC_PORT": 0,
            "SCHEDULER_ADDR": scheduler_addr,
            "SPOOLED_INTERNAL_TOKEN": _stack().INTERNAL_TOKEN,
            "QUEUE_MAX_PAYLOAD_SIZE_BYTES": 64 * 1024,
            "DATABASE_MIN_CONNECTIONS": 1,
            "DATABASE_MAX_CONNECTIONS": 2,
        }
    )


@pytest.fixture(scope="module")
async def app(queue_core: Core, scheduler: SchedulerApp) -> AsyncIterator[FastAPI]:
    app = create_app(gateway_settings(queue_core, f"127.0.0.1:{scheduler.grpc_port}"))
    app.dependency_overrides[require_principal] = _stack()._test_principal
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client acting as a brand-new organization."""
    async with client_for(app, str(uuid.uuid4())) as client:
        yield client


def body(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "nightly report",
        "cron_expression": "0 0 2 * * *",
        "queue_name": "reports",
        "payload_template": {"kind": "daily"},
    }
    out.update(kw)
    return out


async def create(api: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    r = await api.post("/schedules", json=body(**kw))
    assert r.status_code == 201, r.text
    return dict(r.json())


class TestCreateAndGet:
    async def test_create_returns_the_short_form(self, api: httpx.AsyncClient) -> None:
        r = await api.post("/schedules", json=body(timezone="Europe/Berlin"))
        assert r.status_code == 201, r.text
        created = r.json()
        assert set(created) == {"id", "name", "cron_expression", "next_run_at"}
        CreateScheduleResponse.model_validate(created)
        assert created["cron_expression"] == "0 0 2 * * *"
        assert created["next_run_at"].endswith(("T00:00:00.000000Z", "T01:00:00.000000Z"))

    async def test_get_returns_every_field(self, api: httpx.AsyncClient) -> None:
        s = await create(
            api,
            description="d",
            priority=5,
            max_retries=1,
            timeout_seconds=60,
            tags={"team": "ops"},
            metadata={"owner": "x"},
            missed_run_policy="catch_up",
            catch_up_limit=4,
            overlap_policy="skip",
        )
        got = (await api.get(f"/schedules/{s['id']}")).json()
        assert set(got) == SCHEDULE_FIELDS
        Schedule.model_validate(got)
        assert got["payload_template"] == {"kind": "daily"} and got["tags"] == {"team": "ops"}
        assert (got["priority"], got["max_retries"], got["timeout_seconds"]) == (5, 1, 60)
        assert got["is_active"] is True and got["run_count"] == 0 and got["last_run_at"] is None
        assert got["timezone"] == "UTC" and got["metadata"] == {"owner": "x"}
        assert (got["missed_run_policy"], got["catch_up_limit"], got["overlap_policy"]) == (
            "catch_up",
            4,
            "skip",
        )

    async def test_five_field_cron_is_accepted(self, api: httpx.AsyncClient) -> None:
        s = await create(api, cron_expression="*/15 * * * *")
        assert s["next_run_at"][14:26] in {
            "00:00.000000",
            "15:00.000000",
            "30:00.000000",
            "45:00.000000",
        }

    async def test_unknown_id_is_404(self, api: httpx.AsyncClient) -> None:
        for method, path in (
            ("GET", ""),
            ("PUT", ""),
            ("DELETE", ""),
            ("POST", "/pause"),
            ("POST", "/resume"),
            ("POST", "/trigger"),
            ("GET", "/history"),
        ):
            r = await api.request(
                method, f"/schedules/{uuid.uuid4()}{path}", json={} if method == "PUT" else None
            )
            assert r.status_code == 404, (method, path)
            assert r.json() == {"code": "NOT_FOUND", "message": "Schedule not found"}

    async def test_other_orgs_schedules_are_invisible(
        self, api: httpx.AsyncClient, app: FastAPI
    ) -> None:
        s = await create(api)
        async with client_for(app, str(uuid.uuid4())) as stranger:
            assert (await stranger.get(f"/schedules/{s['id']}")).status_code == 404
            assert (await stranger.get("/schedules")).json() == []


class TestBadInput:
    """400 with a clear message, and nothing stored."""

    @pytest.mark.parametrize(
        ("fields", "code", "fragment"),
        [
            (
                {"cron_expression": "0 0 25 * * *"},
                "VALIDATION_ERROR",
                "Invalid cron expression: hour: 25 is out of range 0-23",
            ),
            ({"cron_expression": "every day"}, "VALIDATION_ERROR", "Invalid cron expression"),
            ({"cron_expression": "0 0 0 31 2 *"}, "VALIDATION_ERROR", "never matches"),
            ({"timezone": "Mars/Olympus"}, "VALIDATION_ERROR", "Unknown timezone 'Mars/Olympus'"),
            ({"name": ""}, "VALIDATION_ERROR", "name"),
            ({"queue_name": "../etc"}, "VALIDATION_ERROR", "queue_name"),
            ({"priority": 101}, "VALIDATION_ERROR", "priority"),
            ({"priority": "5"}, "VALIDATION_ERROR", "priority"),
            ({"timeout_seconds": 0}, "VALIDATION_ERROR", "timeout_seconds"),
            ({"missed_run_policy": "backfill"}, "VALIDATION_ERROR", "missed_run_policy"),
            ({"catch_up_limit": 0}, "VALIDATION_ERROR", "catch_up_limit"),
            ({"surprise": 1}, "VALIDATION_ERROR", "Unknown field 'surprise'"),
            ({"tags": "urgent"}, "VALIDATION_ERROR", "tags"),
        ],
    )
    async def test_rejected(
        self, api: httpx.AsyncClient, fields: dict[str, Any], code: str, fragment: str
    ) -> None:
        r = await api.post("/schedules", json=body(**fields))
        assert r.status_code == 400, r.text
        err = r.json()
        assert err["code"] == code and fragment in err["message"], err
        assert (await api.get("/schedules")).json() == []

    async def test_missing_template_and_bad_json(self, api: httpx.AsyncClient) -> None:
        no_template = body()
        del no_template["payload_template"]
        r = await api.post("/schedules", json=no_template)
        assert r.status_code == 400 and "payload_template" in r.json()["message"]
        r = await api.post(
            "/schedules", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["code"] == "INVALID_JSON"
        assert (await api.get("/schedules")).json() == []

    async def test_oversized_template_is_413(self, api: httpx.AsyncClient) -> None:
        r = await api.post("/schedules", json=body(payload_template={"x": "a" * OVER_LIMIT}))
        assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"

    async def test_bad_update_changes_nothing(self, api: httpx.AsyncClient) -> None:
        s = await create(api)
        r = await api.put(
            f"/schedules/{s['id']}", json={"name": "renamed", "cron_expression": "61 * * * * *"}
        )
        assert r.status_code == 400 and "Invalid cron expression" in r.json()["message"]
        got = (await api.get(f"/schedules/{s['id']}")).json()
        assert got["name"] == "nightly report" and got["cron_expression"] == "0 0 2 * * *"

    async def test_scoped_key_cannot_create_outside_its_queues(self, app: FastAPI) -> None:
        async with client_for(app, str(uuid.uuid4()), ("reports",)) as scoped:
            r = await scoped.post("/schedules", json=body(queue_name="billing"))
            assert r.status_code == 403 and r.json()["code"] == "ACCESS_DENIED"
            assert (await scoped.post("/schedules", json=body())).status_code == 201


class TestListUpdateDelete:
    async def test_list_filters_and_pages(self, api: httpx.AsyncClient) -> None:
        a = await create(api, queue_name="alpha")
        b = await create(api, queue_name="beta")
        c = await create(api, queue_name="beta")
        await api.post(f"/schedules/{c['id']}/pause")
        listed = (await api.get("/schedules")).json()
        assert [s["id"] for s in listed] == [c["id"], b["id"], a["id"]]
        assert all(set(s) == SCHEDULE_FIELDS for s in listed)
        assert [s["id"] for s in (await api.get("/schedules?queue_name=beta")).json()] == [
            c["id"],
            b["id"],
        ]
        assert [s["id"] for s in (await api.get("/schedules?is_active=false")).json()] == [c["id"]]
        assert [
            s["id"] for s in (await api.get("/schedules?queue_name=beta&is_active=true")).json()
        ] == [b["id"]]
        assert [s["id"] for s in (await api.get("/schedules?limit=1&offset=1")).json()] == [b["id"]]
        assert len((await api.get("/schedules?limit=0")).json()) == 3  # clamped, not refused

    async def test_put_changes_given_fields_only(self, api: httpx.AsyncClient) -> None:
        s = await create(api, tags=["a"])
        before = (await api.get(f"/schedules/{s['id']}")).json()
        r = await api.put(
            f"/schedules/{s['id']}",
            json={
                "name": "renamed",
                "priority": 9,
                "queue_name": "ignored",
                "tags": None,
                "cron_expression": "0 */5 * * * *",
                "timezone": "Asia/Tokyo",
            },
        )
        assert r.status_code == 200, r.text
        after = r.json()
        assert set(after) == SCHEDULE_FIELDS
        assert after["name"] == "renamed" and after["priority"] == 9
        assert after["queue_name"] == "reports" and after["tags"] == ["a"]  # null = keep
        assert after["timezone"] == "Asia/Tokyo" and after["next_run_at"] != before["next_run_at"]
        assert after["updated_at"] > before["updated_at"]
        r = await api.put(f"/schedules/{s['id']}", json={"is_active": False})
        assert r.json()["is_active"] is False

    async def test_pause_resume_delete(self, api: httpx.AsyncClient) -> None:
        s = await create(api)
        paused = await api.post(f"/schedules/{s['id']}/pause")
        assert paused.status_code == 200 and paused.json()["is_active"] is False
        Schedule.model_validate(paused.json())
        resumed = await api.post(f"/schedules/{s['id']}/resume")
        assert resumed.status_code == 200 and resumed.json()["is_active"] is True
        assert resumed.json()["next_run_at"] is not None
        r = await api.delete(f"/schedules/{s['id']}")
        assert r.status_code == 204 and r.content == b""
        assert (await api.get(f"/schedules/{s['id']}")).status_code == 404


class TestTriggerAndHistory:
    async def test_trigger_creates_a_pending_job_from_the_template(
        self, api: httpx.AsyncClient
    ) -> None:
        s = await create(api, priority=3, tags={"src": "cron"})
        r = await api.post(f"/schedules/{s['id']}/trigger")
        assert r.status_code == 200, r.text
        reply = r.json()
        assert set(reply) == {"job_id", "triggered_at"}
        TriggerScheduleResponse.model_validate(reply)
        job = (await api.get(f"/jobs/{reply['job_id']}")).json()
        assert job["status"] == "pending" and job["queue_name"] == "reports"
        assert job["payload"] == {"kind": "daily"} and job["priority"] == 3
        assert job["tags"] == {"src": "cron"}
        got = (await api.get(f"/schedules/{s['id']}")).json()
        assert got["run_count"] == 1 and got["last_run_at"] == reply["triggered_at"]
        history = (await api.get(f"/schedules/{s['id']}/history")).json()
        assert len(history) == 1 and set(history[0]) == RUN_FIELDS
        ScheduleRun.model_validate(history[0])
        assert history[0]["job_id"] == reply["job_id"] and history[0]["status"] == "completed"
        assert history[0]["kind"] == "manual"

    async def test_history_limit(self, api: httpx.AsyncClient) -> None:
        s = await create(api)
        for _ in range(3):
            await api.post(f"/schedules/{s['id']}/trigger")
        assert len((await api.get(f"/schedules/{s['id']}/history?limit=2")).json()) == 2
        assert len((await api.get(f"/schedules/{s['id']}/history")).json()) == 3

    async def test_cron_fires_for_real(self, api: httpx.AsyncClient) -> None:
        """The scheduler's own loop (system clock) enqueues through queue-core."""
        s = await create(api, cron_expression="* * * * * *", name="every second")
        async with asyncio.timeout(10):
            while True:
                history = (await api.get(f"/schedules/{s['id']}/history")).json()
                if history:
                    break
                await asyncio.sleep(0.1)
        await api.post(f"/schedules/{s['id']}/pause")
        run = history[-1]
        assert run["kind"] == "cron" and run["status"] == "completed", run
        job = (await api.get(f"/jobs/{run['job_id']}")).json()
        assert job["idempotency_key"] == (f"sched:{s['id']}:{run['scheduled_for'][:19]}Z")


class TestPlanCap:
    async def test_cap_on_active_schedules_is_429_quota_exceeded(
        self, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The suite lifts the free tier (conftest); this test puts a cap back.
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_SCHEDULES", "2")
        cap = plans.limits_for("free").max_schedules
        assert cap == 2
        ids = [(await create(api, name=f"s{i}"))["id"] for i in range(cap)]
        r = await api.post("/schedules", json=body(name="one too many"))
        assert r.status_code == 429, r.text
        assert "retry-after" not in r.headers
        err = r.json()
        assert err == {
            "code": "QUOTA_EXCEEDED",
            "message": f"schedules limit reached ({cap}/{cap}). "
            "Upgrade to starter for higher limits.",
            "error": "limit_exceeded",
            "resource": "schedules",
            "current": cap,
            "limit": cap,
            "plan": "free",
            "upgrade_to": "starter",
        }
        assert len((await api.get(f"/schedules?limit={cap + 10}")).json()) == cap
        # A paused schedule frees a slot; resuming it again would exceed the cap.
        await api.post(f"/schedules/{ids[0]}/pause")
        assert (await api.post("/schedules", json=body(name="fits now"))).status_code == 201
        r = await api.post(f"/schedules/{ids[0]}/resume")
        assert r.status_code == 429 and r.json()["resource"] == "schedules"
        r = await api.put(f"/schedules/{ids[0]}", json={"is_active": True})
        assert r.status_code == 429


class TestRealAuth:
    async def test_api_key_from_a_new_organization(
        self, queue_core: Core, scheduler: SchedulerApp
    ) -> None:
        app = create_app(gateway_settings(queue_core, f"127.0.0.1:{scheduler.grpc_port}"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as gw:
                r = await gw.post(
                    "/api/v1/organizations",
                    json={"name": "Sched Org", "slug": f"sched-{uuid.uuid4().hex[:8]}"},
                )
                assert r.status_code == 201, r.text
                key, org = r.json()["api_key"]["key"], r.json()["organization"]["id"]
                headers = {"Authorization": f"Bearer {key}"}
                assert (await gw.get("/api/v1/schedules")).status_code == 401
                r = await gw.post("/api/v1/schedules", json=body(), headers=headers)
                assert r.status_code == 201, r.text
                got = (await gw.get(f"/api/v1/schedules/{r.json()['id']}", headers=headers)).json()
                assert got["organization_id"] == org

    async def test_scheduler_down_is_503(self, queue_core: Core) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"127.0.0.1:{s.getsockname()[1]}"
        app = create_app(gateway_settings(queue_core, dead))
        app.dependency_overrides[require_principal] = _stack()._test_principal
        async with app.router.lifespan_context(app), client_for(app, "org-x") as client:
            r = await client.get("/schedules")
            assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"
