"""Settings fail fast on values that cannot work; formats render chat bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from spooled_webhooks.endpoints.models import EVENT_TYPES
from spooled_webhooks.sending import formats
from spooled_webhooks.settings import WebhooksSettings


def settings(**env: Any) -> WebhooksSettings:
    return WebhooksSettings(**env)


def test_defaults_are_valid() -> None:
    s = settings()
    s.check()
    assert (s.grpc_port, s.http_port) == (50064, 8084)
    assert s.max_attempts == 12 and s.auto_disable_after == 20


@pytest.mark.parametrize(
    "env",
    [
        {"WEBHOOKS_CONSUMER_DELIVER_POLICY": "last"},
        {"WEBHOOKS_RETRY_BASE_SECS": 10, "WEBHOOKS_RETRY_MAX_SECS": 5},
        {"WEBHOOKS_CLAIM_LEASE_SECS": 5, "WEBHOOKS_REQUEST_TIMEOUT_SECS": 10},
        {"WEBHOOKS_ALLOWED_HOSTS": "10.0.0.0/99"},
    ],
)
def test_bad_combinations_exit(env: dict[str, Any]) -> None:
    with pytest.raises(SystemExit):
        settings(**env).check()


def test_production_serves_only_with_nats() -> None:
    prod = settings(SPOOLED_ENV="production", SPOOLED_INTERNAL_TOKEN="x" * 40)
    prod.check()  # migrate needs no NATS
    with pytest.raises(SystemExit, match="NATS_URL"):
        prod.check_serving()
    settings(
        SPOOLED_ENV="production", SPOOLED_INTERNAL_TOKEN="x" * 40, NATS_URL="nats://n:4222"
    ).check_serving()


def test_event_catalog_matches_the_schema_constraint() -> None:
    from importlib import resources

    sql = resources.files("spooled_webhooks.db.migrations").joinpath("0001_webhooks.sql")
    text = sql.read_text()
    for event in EVENT_TYPES:
        assert f"'{event}'" in text


def test_chat_formats() -> None:
    env = orjson.dumps(
        {
            "id": "d",
            "event": "job.failed",
            "data": {"job_id": "j", "queue_name": "q", "status": "deadletter", "error": "boom"},
        }
    ).decode()
    assert formats.render("json", env) == env.encode()
    assert orjson.loads(formats.render("slack", env)) == {
        "text": "[Spooled] job.failed: job j in queue q (deadletter) - boom"
    }
    assert set(orjson.loads(formats.render("discord", env))) == {"content"}
    assert set(orjson.loads(formats.render("teams", env))) == {"text"}
