"""Outbox events → upstream envelopes (API.md §12.1)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from spooled_realtime import envelope as env

ORG = "org-1"
TS = "2026-01-01T12:00:00.000001Z"


def relay_body(event: str, data: dict[str, Any], queue: str | None = "emails") -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "outbox_id": 7,
            "event": event,
            "organization_id": ORG,
            "queue_name": queue,
            "aggregate": data.get("job_id") or data.get("worker_id") or queue,
            "created_at": TS,
            "data": data,
        }
    )


def mapped(event: str, data: dict[str, Any], queue: str | None = "emails") -> list[dict[str, Any]]:
    parsed = env.parse(relay_body(event, data, queue), seq=11)
    assert parsed is not None
    assert parsed.seq == 11
    return [orjson.loads(e.to_json()) for e in parsed.envelopes]


class TestJobEvents:
    def test_created(self) -> None:
        assert mapped(
            "job.created",
            {
                "job_id": "j1",
                "queue_name": "emails",
                "status": "pending",
                "priority": 5,
                "scheduled_at": None,
            },
        ) == [
            {
                "type": "JobCreated",
                "data": {"job_id": "j1", "queue_name": "emails", "priority": 5, "timestamp": TS},
            }
        ]

    def test_started_is_a_status_change_to_processing(self) -> None:
        assert mapped(
            "job.started", {"job_id": "j1", "queue_name": "emails", "worker_id": "w"}
        ) == [
            {
                "type": "JobStatusChange",
                "data": {
                    "job_id": "j1",
                    "queue_name": "emails",
                    "old_status": "pending",
                    "new_status": "processing",
                    "timestamp": TS,
                },
            }
        ]

    def test_completed_carries_duration_and_result(self) -> None:
        [doc] = mapped(
            "job.completed",
            {
                "job_id": "j1",
                "queue_name": "emails",
                "status": "completed",
                "result": {"ok": 1},
                "duration_ms": 12.0,
            },
        )
        assert doc == {
            "type": "JobCompleted",
            "data": {
                "job_id": "j1",
                "queue_name": "emails",
                "duration_ms": 12,
                "timestamp": TS,
                "result": {"ok": 1},
            },
        }

    def test_completed_without_result_omits_it(self) -> None:
        [doc] = mapped("job.completed", {"job_id": "j1", "result": None, "duration_ms": 3})
        assert "result" not in doc["data"]

    def test_failed_is_a_status_change_and_a_failure(self) -> None:
        change, failed = mapped(
            "job.failed",
            {"job_id": "j1", "status": "deadletter", "error": "boom", "retry_count": 3},
        )
        assert change["type"] == "JobStatusChange"
        assert (change["data"]["old_status"], change["data"]["new_status"]) == (
            "processing",
            "deadletter",
        )
        assert failed == {
            "type": "JobFailed",
            "data": {
                "job_id": "j1",
                "queue_name": "emails",
                "error": "boom",
                "retry_count": 3,
                "timestamp": TS,
            },
        }

    def test_cancelled_is_a_status_change(self) -> None:
        [doc] = mapped("job.cancelled", {"job_id": "j1", "status": "cancelled"})
        assert doc["type"] == "JobStatusChange"
        assert doc["data"]["new_status"] == "cancelled"

    @pytest.mark.parametrize(
        ("event", "status"),
        [
            ("job.created", "pending"),
            ("job.started", "processing"),
            ("job.completed", "completed"),
            ("job.cancelled", "cancelled"),
        ],
    )
    def test_implied_status_for_job_streams(self, event: str, status: str) -> None:
        parsed = env.parse(relay_body(event, {"job_id": "j9"}))
        assert parsed is not None
        assert (parsed.job_id, parsed.new_status) == ("j9", status)


class TestWorkerAndOtherEvents:
    def test_worker_registered(self) -> None:
        assert mapped(
            "worker.registered", {"worker_id": "w1", "queue_name": "emails", "hostname": "h"}
        ) == [
            {
                "type": "WorkerRegistered",
                "data": {"worker_id": "w1", "queue_name": "emails", "timestamp": TS},
            }
        ]

    def test_worker_deregistered(self) -> None:
        assert mapped("worker.deregistered", {"worker_id": "w1"}) == [
            {"type": "WorkerDeregistered", "data": {"worker_id": "w1", "timestamp": TS}}
        ]

    def test_queue_events_have_no_realtime_envelope(self) -> None:
        assert mapped("queue.paused", {"queue_name": "emails"}) == []

    @pytest.mark.parametrize(
        "raw", [b"not json", b"[]", b'{"event": "job.created"}', b'{"organization_id": "o"}']
    )
    def test_malformed_bodies_are_dropped(self, raw: bytes) -> None:
        assert env.parse(raw) is None


def test_filter_names() -> None:
    assert env.Envelope("JobStatusChange", {}).filter_name == "job.status"
    assert env.ping().filter_name == "ping"
    assert env.error("x").data["message"] == "x"
