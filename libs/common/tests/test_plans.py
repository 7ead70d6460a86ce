"""Plan limits: the built-in table, the override order, and the error bodies."""

from __future__ import annotations

import pytest
from spooled_common import errors, plans


class TestOverrideOrder:
    """built-in < SPOOLED_PLAN_LIMITS_JSON < _<TIER>_LIMITS_JSON < _<TIER>_<FIELD> < custom."""

    def test_builtin_when_nothing_is_set(self) -> None:
        table = plans.load({})
        assert table == plans.PLANS
        assert table["free"].max_jobs_per_day == 1_000

    def test_each_layer_beats_the_one_below(self) -> None:
        env = {
            "SPOOLED_PLAN_LIMITS_JSON": '{"free": {"max_jobs_per_day": 11, "max_queues": 12,'
            ' "max_workers": 13, "max_api_keys": 14}}',
            "SPOOLED_PLAN_FREE_LIMITS_JSON": '{"max_queues": 22, "max_workers": 23,'
            ' "max_api_keys": 24}',
            "SPOOLED_PLAN_FREE_MAX_WORKERS": "33",
            "SPOOLED_PLAN_FREE_MAX_API_KEYS": "34",
        }
        free = plans.load(env)["free"]
        # jobs/day only in the all-tiers JSON; queues last set by the tier JSON;
        # workers by the single variable; api keys again by the single variable.
        assert (free.max_jobs_per_day, free.max_queues, free.max_workers, free.max_api_keys) == (
            11,
            22,
            33,
            34,
        )
        assert plans.current(env)["free"].max_api_keys == 34

    def test_custom_limits_beat_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_API_KEYS", "34")
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_QUEUES", "5")
        lim = plans.limits_for("free", {"max_api_keys": 44})
        assert (lim.max_api_keys, lim.max_queues) == (44, 5)

    @pytest.mark.parametrize("word", ["unlimited", "none", "null", "-1", "UNLIMITED", " None "])
    def test_unlimited_spellings(self, word: str) -> None:
        assert plans.load({"SPOOLED_PLAN_PRO_MAX_ACTIVE_JOBS": word})["pro"].max_active_jobs is None

    def test_short_and_long_field_names(self) -> None:
        starter = plans.load(
            {
                "SPOOLED_PLAN_STARTER_RATE_LIMIT_RPS": "7",
                "SPOOLED_PLAN_STARTER_RATE_LIMIT_BURST": "9",
                "SPOOLED_PLAN_STARTER_MAX_PAYLOAD_SIZE_BYTES": "1024",
                "SPOOLED_PLAN_STARTER_JOB_RETENTION_DAYS": "2",
                "SPOOLED_PLAN_STARTER_HISTORY_RETENTION_DAYS": "1",
            }
        )["starter"]
        assert (
            starter.rate_limit_requests_per_second,
            starter.rate_limit_burst,
            starter.max_payload_size_bytes,
            starter.job_retention_days,
            starter.history_retention_days,
        ) == (7, 9, 1024, 2, 1)

    def test_json_null_is_unlimited(self) -> None:
        env = {"SPOOLED_PLAN_STARTER_LIMITS_JSON": '{"max_jobs_per_day": null}'}
        assert plans.load(env)["starter"].max_jobs_per_day is None

    def test_other_tiers_untouched(self) -> None:
        table = plans.load({"SPOOLED_PLAN_FREE_MAX_QUEUES": "9"})
        assert table["starter"] == plans.PLANS["starter"]

    def test_current_follows_the_process_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert plans.current()["free"].max_queues == 2
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_QUEUES", "unlimited")
        assert plans.current()["free"].max_queues is None
        assert plans.limits_for("free").max_queues is None


class TestBadConfiguration:
    @pytest.mark.parametrize(
        ("env", "words"),
        [
            ({"SPOOLED_PLAN_FREE_MAX_QUEUES": "lots"}, "SPOOLED_PLAN_FREE_MAX_QUEUES"),
            ({"SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "unlimited"}, "cannot be unlimited"),
            ({"SPOOLED_PLAN_FREE_MAX_QUEUES": "-5"}, "negative"),
            ({"SPOOLED_PLAN_LIMITS_JSON": "{"}, "not valid JSON"),
            ({"SPOOLED_PLAN_LIMITS_JSON": '{"gold": {}}'}, "unknown tier"),
            ({"SPOOLED_PLAN_PRO_LIMITS_JSON": '{"max_foo": 1}'}, "unknown limit"),
            ({"SPOOLED_PLAN_PRO_LIMITS_JSON": '{"max_queues": "9"}'}, "non-negative integer"),
            ({"SPOOLED_PLAN_PRO_LIMITS_JSON": "[1]"}, "JSON object"),
        ],
    )
    def test_refused_with_the_variable_named(self, env: dict[str, str], words: str) -> None:
        with pytest.raises(plans.PlanConfigError, match=words):
            plans.load(env)

    def test_validate_environment_exits(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_QUEUES", "lots")
        with pytest.raises(SystemExit, match="SPOOLED_PLAN_FREE_MAX_QUEUES"):
            plans.validate_environment()


class TestCustomLimits:
    def test_null_means_unlimited_and_bad_types_are_ignored(self) -> None:
        lim = plans.limits_for("free", {"max_queues": None, "max_workers": "lots"})
        assert (lim.max_queues, lim.max_workers) == (None, 1)

    def test_accepts_json_text(self) -> None:
        assert plans.limits_for("pro", '{"max_workers": 2}').max_workers == 2

    def test_validation_when_stored(self) -> None:
        assert plans.validate_custom_limits({}) is None
        assert plans.validate_custom_limits({"max_queues": None}) == {"max_queues": None}
        for bad in ({"max_queues": -1}, {"nope": 1}, {"rate_limit_burst": None}, [1]):
            with pytest.raises(errors.ValidationError):
                plans.validate_custom_limits(bad)


class TestBodies:
    def test_quota_text_is_what_the_sdk_matches(self) -> None:
        err = plans.quota_exceeded("jobs_per_day", 1000, 1000, "free")
        assert "limit reached" in err.message and err.status == 429
        assert err.body()["code"] == "QUOTA_EXCEEDED"

    def test_feature_disabled(self) -> None:
        body = plans.feature_disabled("workflows", "free").body()
        assert body == {
            "code": "FEATURE_DISABLED",
            "error": "feature_disabled",
            "message": "workflows is not available on the Free plan. "
            "Upgrade to unlock this feature.",
            "feature": "workflows",
            "plan": "free",
            "upgrade_to": "starter",
        }

    def test_payload_too_large(self) -> None:
        err = plans.payload_too_large(70_000, 65_536, "free")
        assert err.status == 413
        assert err.body()["upgrade_to"] is True and err.body()["current"] == 70_000
        assert plans.payload_too_large(9, 1, "enterprise").body()["upgrade_to"] is False

    def test_exceeds_is_current_plus_adding(self) -> None:
        assert not plans.exceeds(10, 9, 1)
        assert plans.exceeds(10, 9, 2)
        assert not plans.exceeds(None, 10**9, 10**9)
