"""The plan table, per-org overrides, quota bodies, slugs and the usage document."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from spooled_gateway.orgs import plans, service, usage
from spooled_gateway.orgs.schemas import slug_problem


class TestPlans:
    def test_table_matches_upstream(self) -> None:
        free = plans.PLANS["free"]
        assert (
            free.max_jobs_per_day,
            free.max_active_jobs,
            free.max_queues,
            free.max_workers,
            free.max_api_keys,
            free.max_schedules,
            free.max_workflows,
            free.max_webhooks,
        ) == (1000, 10, 2, 1, 2, 1, 0, 1)
        assert plans.PLANS["pro"].max_payload_size_bytes == 1_048_576
        assert plans.PLANS["enterprise"].max_jobs_per_day is None
        assert [p["tier"] for p in plans.all_plans()] == list(plans.TIERS)
        assert set(plans.all_plans()[0]) == {
            "tier",
            "display_name",
            "max_jobs_per_day",
            "max_active_jobs",
            "max_queues",
            "max_workers",
            "max_api_keys",
            "max_schedules",
            "max_workflows",
            "max_webhooks",
            "max_payload_size_bytes",
            "rate_limit_requests_per_second",
            "rate_limit_burst",
            "job_retention_days",
            "history_retention_days",
        }

    def test_unknown_tier_is_free(self) -> None:
        assert plans.limits_for("platinum").tier == "free"

    def test_custom_limits_override_and_null_means_unlimited(self) -> None:
        lim = plans.limits_for(
            "free",
            {"max_api_keys": 7, "max_queues": None, "max_workers": "lots", "rate_limit_burst": 99},
        )
        assert (lim.max_api_keys, lim.max_queues, lim.max_workers, lim.rate_limit_burst) == (
            7,
            None,
            1,
            99,
        )

    def test_upgrade_path(self) -> None:
        assert [plans.upgrade_to(t) for t in plans.TIERS] == ["starter", "pro", "enterprise", None]

    def test_quota_body(self) -> None:
        err = plans.quota_exceeded("api_keys", 2, 2, "free")
        assert err.status == 429
        assert err.body() == {
            "code": "QUOTA_EXCEEDED",
            "error": "limit_exceeded",
            "message": "api keys limit reached (2/2). Upgrade to starter for higher limits.",
            "resource": "api_keys",
            "current": 2,
            "limit": 2,
            "plan": "free",
            "upgrade_to": "starter",
        }
        assert "upgrade_to" not in plans.quota_exceeded("queues", 9, 9, "enterprise").body()


@pytest.mark.parametrize(
    ("slug", "problem"),
    [
        ("acme", None),
        ("acme-corp-2", None),
        ("a1b", None),
        ("ab", "between"),
        ("a" * 51, "between"),
        ("Acme", "lowercase"),
        ("acme_corp", "lowercase"),
        ("-acme", "hyphen"),
        ("acme-", "hyphen"),
        ("1acme", "start with a letter"),
        ("ac--me", "consecutive"),
        ("admin", "reserved"),
        ("www", "reserved"),
    ],
)
def test_slug_rules(slug: str, problem: str | None) -> None:
    found = slug_problem(slug)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    "name", ["Acme Corp!", "  ", "123 Numbers", "API", "x" * 300, "Ünïcode Ltd"]
)
def test_slugify_always_gives_a_valid_slug(name: str) -> None:
    assert slug_problem(service.slugify(name)) is None


def _org(tier: str = "free", custom: Any = None) -> dict[str, Any]:
    return {"plan_tier": tier, "custom_limits": custom}


class TestUsageInfo:
    def test_shape_percentages_and_warnings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The built-in free tier (conftest lifts workflows for the route tests).
        monkeypatch.delenv("SPOOLED_PLAN_FREE_MAX_WORKFLOWS")
        counts = SimpleNamespace(jobs_today=500, active_jobs=10, queues=1, workers=0)
        info = usage.usage_info(_org(), counts, api_keys=1)  # type: ignore[arg-type]
        assert info["plan"] == "free" and info["plan_display_name"] == "Free"
        assert set(info["usage"]) == set(usage.RESOURCES)
        assert info["usage"]["jobs_today"] == {
            "current": 500,
            "limit": 1000,
            "percentage": 50.0,
            "is_disabled": False,
        }
        assert info["usage"]["workflows"]["is_disabled"] is True
        assert info["usage"]["workflows"]["percentage"] is None
        assert info["usage"]["schedules"]["tracked"] is False
        severities = {w["resource"]: w["severity"] for w in info["warnings"]}
        # free warns from 50 %; 10/10 active jobs is critical
        assert severities == {
            "jobs_today": "warning",
            "active_jobs": "critical",
            "queues": "warning",
            "api_keys": "warning",
        }

    def test_paid_plans_warn_at_80_percent_and_unlimited_never(self) -> None:
        counts = SimpleNamespace(jobs_today=5000, active_jobs=450, queues=0, workers=0)
        info = usage.usage_info(_org("starter"), counts, api_keys=0)  # type: ignore[arg-type]
        assert [w["resource"] for w in info["warnings"]] == ["active_jobs"]
        ent = usage.usage_info(_org("enterprise"), counts, api_keys=0)  # type: ignore[arg-type]
        assert ent["warnings"] == [] and ent["usage"]["jobs_today"]["limit"] is None
