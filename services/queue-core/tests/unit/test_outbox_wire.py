"""The relay's message contract: subjects, ids and bodies consumers rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from spooled_queue_core.outbox import wire
from spooled_queue_core.outbox.settings import RelaySettings


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("emails", "emails"),
        ("a-b_c9", "a-b_c9"),
        ("emails.v2", "emails%2Ev2"),
        ("a b*>", "a%20b%2A%3E"),
        ("é", "%C3%A9"),
        ("", "_"),
    ],
)
def test_token_escaping_is_reversible_and_subject_safe(value: str, escaped: str) -> None:
    assert wire.token(value) == escaped
    assert not set(wire.token(value)) & set(". *>\t")


def test_subject_keeps_the_event_dot_and_escapes_the_rest() -> None:
    assert wire.subject("org-1", "q.x", "job.created") == "spooled.events.org-1.q%2Ex.job.created"
    assert wire.subject("org-1", None, "worker.registered") == (
        "spooled.events.org-1._.worker.registered"
    )
    assert wire.org_subject("org-1") == "spooled.events.org-1.>"


def test_distinct_queues_get_distinct_subjects() -> None:
    assert wire.subject("o", "a.b", "job.created") != wire.subject("o", "a_b", "job.created")


def test_body_splices_the_stored_payload_verbatim() -> None:
    raw = wire.body(
        outbox_id=5,
        event="job.completed",
        org_id="o",
        queue="q",
        aggregate="j",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        data='{"job_id": "j", "result": {"n": 1}}',
    )
    assert orjson.loads(raw) == {
        "v": 1,
        "outbox_id": 5,
        "event": "job.completed",
        "organization_id": "o",
        "queue_name": "q",
        "aggregate": "j",
        "created_at": "2026-01-02T03:04:05.000006Z",
        "data": {"job_id": "j", "result": {"n": 1}},
    }


def test_msg_id_is_namespaced_by_database() -> None:
    assert wire.msg_id("16384", 42) == "core-16384-42"


def test_relay_settings() -> None:
    assert RelaySettings(NATS_URL="").enabled is False
    with pytest.raises(SystemExit):
        RelaySettings(NATS_URL="", SPOOLED_ENV="production").check()
