"""``GET /jobs/{id}/diagnose``, ``GET /dashboard`` and the ``/dashboard`` console,
against a real queue-core process over gRPC (core_stack)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import Request
from spooled_gateway.auth.deps import require_principal

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]

SUMMARY_KEYS = {"system", "jobs", "queues", "workers", "recent_activity", "throughput"}


async def diagnose(api: Api, job_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/jobs/{job_id}/diagnose")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def register(api: Api, queue: str) -> str:
    r = await api.client.post("/workers/register", json={"queue_name": queue, "hostname": "h1"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


class TestDiagnose:
    async def test_ready_job_has_its_position(self, api: Api) -> None:
        await register(api, "q")
        await api.enqueue("q")
        job = await api.enqueue("q")
        d = await diagnose(api, job)
        assert (d["job_id"], d["queue_name"], d["status"], d["runnable"]) == (
            job,
            "q",
            "pending",
            True,
        )
        assert d["blocker"]["code"] == "READY" and d["blocker"]["details"]["position"] == 2
        assert d["blockers"] == [d["blocker"]] and d["checked_at"].endswith("Z")

    async def test_paused_queue(self, api: Api) -> None:
        job = await api.enqueue("mail")
        r = await api.client.post("/queues/mail/pause", json={"reason": "incident 42"})
        assert r.status_code == 200, r.text
        d = await diagnose(api, job)
        assert d["runnable"] is False
        assert [b["code"] for b in d["blockers"]] == ["QUEUE_PAUSED", "NO_WORKER"]
        assert d["blocker"]["details"]["reason"] == "incident 42"
        assert isinstance(d["blocker"]["message"], str) and "resume" in d["blocker"]["message"]

    async def test_scheduled_for_later(self, api: Api) -> None:
        await register(api, "later")
        at = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
        job = await api.enqueue("later", scheduled_at=at)
        d = await diagnose(api, job)
        assert d["blocker"]["code"] == "SCHEDULED"
        assert 1700 < d["blocker"]["details"]["seconds_until"] <= 1800

    async def test_leased_by_worker_until(self, api: Api) -> None:
        worker = await register(api, "run")
        job = await api.enqueue("run")
        [claimed] = await api.claim("run", worker=worker)
        d = await diagnose(api, job)
        assert d["blocker"]["code"] == "LEASED"
        details = d["blocker"]["details"]
        assert details["worker_id"] == worker
        assert details["lease_expires_at"][:19] == claimed["lease_expires_at"][:19]

    async def test_dead_letter_says_how_it_ended(self, api: Api) -> None:
        job = await api.dead_letter("dl")
        d = await diagnose(api, job)
        assert (
            d["blocker"]["code"] == "DEAD_LETTERED" and d["blocker"]["details"]["reason"] == "boom"
        )

    async def test_plan_worker_cap_from_the_gateway_plan_table(self, api: Api) -> None:
        # The org on the free plan (1 worker), its one worker on another queue.
        await api.sql(
            "INSERT INTO gateway.organizations (id, name, slug, plan_tier) VALUES ($1, 'T', $2, 'free')",
            api.org,
            f"t-{uuid.uuid4().hex[:10]}",
        )
        await register(api, "other")
        job = await api.enqueue("q")
        overrides = api.gateway.app.dependency_overrides
        as_test = overrides[require_principal]

        # As real authentication does: the principal carries the org's plan tier.
        def free_plan(request: Request) -> Any:
            return replace(as_test(request), plan_tier="free")

        overrides[require_principal] = free_plan
        try:
            d = await diagnose(api, job)
        finally:
            overrides[require_principal] = as_test
        assert [b["code"] for b in d["blockers"]] == ["PLAN_LIMIT", "NO_WORKER"]
        assert d["blocker"]["details"] == {
            "resource": "workers",
            "current": 1,
            "limit": 1,
            "plan": "free",
            "upgrade_to": "starter",
        }

    async def test_unknown_and_foreign_jobs_are_404(self, api: Api) -> None:
        job = await api.enqueue("q")
        r = await api.client.get("/jobs/does-not-exist/diagnose")
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
        async with api.stranger() as other:
            assert (await other.get(f"/jobs/{job}/diagnose")).status_code == 404
        async with api.scoped("elsewhere") as scoped:
            assert (await scoped.get(f"/jobs/{job}/diagnose")).status_code == 404


class TestDashboardSummary:
    async def test_upstream_shape_and_counts(self, api: Api) -> None:
        await register(api, "a")
        for _ in range(2):
            await api.enqueue("a")
        await api.dead_letter("b")
        r = await api.client.get("/dashboard", params={"throughput_minutes": 10})
        assert r.status_code == 200, r.text
        d = r.json()
        assert set(d) == SUMMARY_KEYS
        assert set(d["system"]) == {
            "version",
            "uptime_seconds",
            "started_at",
            "database_status",
            "cache_status",
            "environment",
        }
        assert {k: d["jobs"][k] for k in ("total", "pending", "deadletter", "failed_24h")} == {
            "total": 3,
            "pending": 2,
            "deadletter": 1,
            "failed_24h": 1,
        }
        assert [(q["name"], q["pending"], q["paused"]) for q in d["queues"]] == [
            ("a", 2, False),
            ("b", 0, False),
        ]
        assert d["workers"] == {"total": 1, "healthy": 1, "unhealthy": 0}
        assert d["recent_activity"]["jobs_created_1h"] == 3
        assert len(d["throughput"]) == 10 and sum(p["created"] for p in d["throughput"]) == 3

    async def test_workers_with_their_current_jobs(self, api: Api) -> None:
        worker = await register(api, "w")
        job = await api.enqueue("w")
        await api.claim("w", worker=worker)
        r = await api.client.get("/dashboard/workers")
        assert r.status_code == 200, r.text
        [row] = r.json()
        assert row["id"] == worker and row["current_job_ids"] == [job]
        assert row["queue_names"] == ["w"]

    @pytest.mark.parametrize("params", [{"queue_limit": 0}, {"throughput_minutes": 5000}])
    async def test_bad_limits_are_400(self, api: Api, params: dict[str, int]) -> None:
        r = await api.client.get("/dashboard", params=params)
        assert r.status_code in (400, 422) and "code" in r.json()


class TestConsole:
    @pytest.fixture
    def root(self, api: Api) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.gateway.app), base_url="http://gateway"
        )

    async def test_page_has_its_own_csp(self, root: httpx.AsyncClient) -> None:
        async with root:
            r = await root.get("/dashboard")
            api_csp = (await root.get("/health")).headers["content-security-policy"]
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert api_csp == "default-src 'none'; frame-ancestors 'none'"
        assert '<script type="module" src="/dashboard/assets/app.js">' in r.text

    async def test_assets_are_shipped_and_nothing_else_is_served(
        self, root: httpx.AsyncClient
    ) -> None:
        async with root:
            js = await root.get("/dashboard/assets/app.js")
            css = await root.get("/dashboard/assets/style.css")
            view = await root.get("/dashboard/assets/views/job.js")
            escape = await root.get("/dashboard/assets/../routes.py")
            code = await root.get("/dashboard/assets/%2e%2e/routes.py")
            missing = await root.get("/dashboard/assets/nope.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert css.status_code == 200 and view.status_code == 200
        assert {escape.status_code, code.status_code, missing.status_code} == {404}
        assert "content-security-policy" in js.headers

    async def test_no_external_origin_is_referenced(self) -> None:
        from spooled_gateway.console.routes import STATIC

        for path in STATIC.rglob("*"):
            if path.is_file():
                text = path.read_text()
                assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path
                assert "https://" not in text, path
