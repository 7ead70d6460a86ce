"""The stream contract (against queue-core's relay wire module) and the fan-out plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from spooled_queue_core.outbox import wire as relay
from spooled_webhooks.deliveries.fanout import plan_rows
from spooled_webhooks.deliveries.ids import COMPLETION, delivery_id
from spooled_webhooks.events import wire

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_constants_match_the_relay() -> None:
    assert wire.STREAM == relay.STREAM
    assert [f"{wire.SUBJECT_PREFIX}.>"] == relay.STREAM_SUBJECTS
    assert wire.NO_QUEUE == relay.NO_QUEUE


@given(st.text(max_size=30), st.text(max_size=30))
def test_subjects_match_the_relay(org: str, queue: str) -> None:
    assert wire.subject(org, queue, "webhook.disabled") == relay.subject(
        org, queue, "webhook.disabled"
    )


def relay_body(event: str, data: dict[str, Any], org: str = "o1", ts: datetime = T0) -> bytes:
    return relay.body(
        outbox_id=7, event=event, org_id=org, queue="q", aggregate="j1", created_at=ts, data=data
    )


def test_parse_a_relay_message() -> None:
    ev = wire.parse(relay_body("job.completed", {"job_id": "j1"}), "core-1-7")
    assert ev is not None
    assert (ev.key, ev.name, ev.org_id, ev.queue) == ("core-1-7", "job.completed", "o1", "q")
    assert ev.created_at == "2026-01-01T12:00:00.000000Z"
    # Without the header the outbox id still names it.
    fallback = wire.parse(relay_body("job.created", {}), None)
    assert fallback is not None and fallback.key == "outbox-7"
    for junk in (b"not json", b"[]", b'{"event": "x"}', b'{"organization_id": "o"}'):
        assert wire.parse(junk, "k") is None


def test_deadletter_fires_both_types_and_secrets_stay_private() -> None:
    data = {
        "job_id": "j1",
        "status": "deadletter",
        "error": "boom",
        "completion_webhook": "https://example.com/cb",
        "completion_webhook_secret": "shh",
    }
    ev = wire.parse(relay_body("job.failed", data), "k")
    assert ev is not None
    assert ev.names == ("job.failed", "job.deadlettered")
    assert "completion_webhook_secret" not in ev.public_data()
    target = ev.completion()
    assert target is not None and target.secret == "shh"
    assert target.body == {
        "job_id": "j1",
        "queue_name": "q",
        "status": "deadletter",
        "error": "boom",
    }


def test_only_terminal_job_events_call_completion_webhooks() -> None:
    data = {"job_id": "j1", "completion_webhook": "https://example.com/cb"}
    for name in ("job.created", "job.started", "job.cancelled"):
        ev = wire.parse(relay_body(name, data), "k")
        assert ev is not None and ev.completion() is None


def endpoint(
    eid: str, events: list[str], org: str = "o1", created: datetime = T0
) -> dict[str, Any]:
    return {
        "id": eid,
        "organization_id": org,
        "events": events,
        "format": "json",
        "created_at": created - timedelta(seconds=1),
    }


class TestPlan:
    def events(self, *items: tuple[str, dict[str, Any], str]) -> list[wire.StreamEvent]:
        out = []
        for name, data, key in items:
            ev = wire.parse(relay_body(name, data), key)
            assert ev is not None
            out.append(ev)
        return out

    def test_one_row_per_endpoint_and_type_with_stable_ids(self) -> None:
        evs = self.events(("job.completed", {"job_id": "j1", "result": 1}, "k1"))
        eps = [endpoint("e1", ["job.completed"]), endpoint("e2", ["job.created"])]
        [row] = plan_rows(evs, eps)  # type: ignore[arg-type]
        assert row.id == delivery_id("e1", "k1", "job.completed")
        assert row.id == plan_rows(evs, eps)[0].id  # type: ignore[arg-type]
        body = orjson.loads(row.payload)
        assert body == {
            "id": row.id,
            "event": "job.completed",
            "created_at": "2026-01-01T12:00:00.000000Z",
            "data": {"job_id": "j1", "result": 1},
        }

    def test_other_orgs_and_younger_endpoints_get_nothing(self) -> None:
        evs = self.events(("job.completed", {"job_id": "j1"}, "k1"))
        eps = [
            endpoint("other", ["job.completed"], org="o2"),
            endpoint("young", ["job.completed"], created=T0 + timedelta(minutes=5)),
        ]
        assert plan_rows(evs, eps) == []  # type: ignore[arg-type]

    def test_completion_rows_and_duplicates_in_a_batch(self) -> None:
        data = {"job_id": "j1", "completion_webhook": "https://example.com/cb"}
        evs = self.events(("job.completed", data, "k1"), ("job.completed", data, "k1"))
        [row] = plan_rows(evs, [])
        assert row.webhook_id is None and row.url == "https://example.com/cb"
        assert row.id == delivery_id(COMPLETION, "k1", "job.completed")
        assert row.job_id == "j1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("e1", "k1", "job.completed"), ("e2", "k1", "job.completed")),
        (("e1", "k1", "job.completed"), ("e1", "k2", "job.completed")),
        (("e1", "k1", "job.failed"), ("e1", "k1", "job.deadlettered")),
    ],
)
def test_ids_differ_per_target_event_and_type(
    a: tuple[str, str, str], b: tuple[str, str, str]
) -> None:
    assert delivery_id(*a) != delivery_id(*b)
