"""Rendering queue-core messages as the upstream JSON shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from spooled_gateway import convert
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

#: API.md §3.1: the full Job JSON (every column but workflow_step and the webhook secret).
JOB_FIELDS = {
    "id",
    "organization_id",
    "queue_name",
    "status",
    "payload",
    "result",
    "retry_count",
    "max_retries",
    "last_error",
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "expires_at",
    "priority",
    "tags",
    "timeout_seconds",
    "parent_job_id",
    "completion_webhook",
    "assigned_worker_id",
    "lease_id",
    "lease_expires_at",
    "idempotency_key",
    "updated_at",
    "workflow_id",
    "dependency_mode",
    "dependencies_met",
}


def stamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


def render(value: Any) -> Any:
    """What a client receives (Fragments embedded by orjson)."""
    return orjson.loads(orjson.dumps(value))


CREATED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def sample_job(**over: Any) -> pb.Job:
    fields: dict[str, Any] = {
        "id": "j1",
        "organization_id": "o1",
        "queue_name": "q",
        "status": "processing",
        "payload": b'{"job_type": "email", "to": "a@b.c"}',
        "retry_count": 2,
        "max_retries": 5,
        "priority": 7,
        "timeout_seconds": 300,
        "created_at": stamp(CREATED),
        "lease_id": "L-1",
        "lease_expires_at": stamp(datetime(2026, 1, 2, 3, 5, tzinfo=UTC)),
        "tags": b'["a"]',
        "dependency_mode": "all",
        "dependencies_met": True,
    }
    fields.update(over)
    return pb.Job(**fields)


class TestTimestamps:
    def test_rfc3339_micro_z(self) -> None:
        assert convert.iso(0, 0) == "1970-01-01T00:00:00.000000Z"
        msg = sample_job()
        assert convert.ts(msg, "created_at") == "2026-01-02T03:04:05.123456Z"
        assert convert.ts(msg, "completed_at") is None

    def test_matches_datetime_formatting(self) -> None:
        for seconds in (1, 951782400, 1767225599, 4102444800):
            expected = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000999Z")
            assert convert.iso(seconds, 999_999) == expected


class TestJob:
    def test_full_job_fields(self) -> None:
        out = render(convert.job(sample_job()))
        assert set(out) == JOB_FIELDS
        assert out["payload"] == {"job_type": "email", "to": "a@b.c"}
        assert out["result"] is None and out["last_error"] is None
        assert out["tags"] == ["a"] and out["lease_id"] == "L-1"
        assert out["lease_expires_at"] == "2026-01-02T03:05:00.000000Z"
        assert out["idempotency_key"] is None and out["dependencies_met"] is True

    def test_optional_strings_present(self) -> None:
        out = convert.job(sample_job(last_error="boom", idempotency_key="", parent_job_id="p"))
        assert (out["last_error"], out["idempotency_key"], out["parent_job_id"]) == (
            "boom",
            "",
            "p",
        )

    def test_summary_has_both_retry_names_and_job_type(self) -> None:
        out = render(convert.job_summary(sample_job()))
        assert out["retry_count"] == out["attempt"] == 2
        assert out["max_retries"] == 5 and out["job_type"] == "email"
        assert set(out) == {
            "id",
            "queue_name",
            "status",
            "priority",
            "retry_count",
            "attempt",
            "max_retries",
            "job_type",
            "last_error",
            "created_at",
            "scheduled_at",
            "started_at",
            "completed_at",
        }

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            (b'{"job_type": "x"}', "x"),
            (b"{}", ""),
            (b"", ""),
            (b'{"job_type": 5}', ""),
            (b'["job_type"]', ""),
            (b'{"nested": {"job_type": "x"}}', ""),
            (b'"job_type"', ""),
        ],
    )
    def test_job_type(self, payload: bytes, expected: str) -> None:
        assert convert.job_type(payload) == expected

    def test_claimed_job(self) -> None:
        out = render(convert.claimed_job(sample_job()))
        assert out == {
            "id": "j1",
            "queue_name": "q",
            "payload": {"job_type": "email", "to": "a@b.c"},
            "retry_count": 2,
            "max_retries": 5,
            "timeout_seconds": 300,
            "lease_expires_at": "2026-01-02T03:05:00.000000Z",
            "lease_id": "L-1",
        }

    def test_batch_status_row(self) -> None:
        assert set(convert.job_status(sample_job())) == {
            "id",
            "status",
            "queue_name",
            "retry_count",
            "created_at",
            "completed_at",
        }

    def test_stats(self) -> None:
        stats = convert.job_stats(pb.JobStats(pending=1, deadletter=2, total=3))
        assert stats == {
            "pending": 1,
            "scheduled": 0,
            "processing": 0,
            "completed": 0,
            "failed": 0,
            "deadletter": 2,
            "cancelled": 0,
            "total": 3,
        }

    def test_history_event(self) -> None:
        event = pb.JobEvent(
            id="e", job_id="j", event_type="created", details=b'{"a":1}', created_at=stamp(CREATED)
        )
        assert render(convert.job_event(event)) == {
            "id": "e",
            "job_id": "j",
            "event_type": "created",
            "worker_id": None,
            "details": {"a": 1},
            "created_at": "2026-01-02T03:04:05.123456Z",
        }


def test_bulk_result_splits_by_outcome() -> None:
    results = [
        pb.BulkItemResult(index=0, job_id="a", created=True),
        pb.BulkItemResult(index=1, error="duplicate"),
        pb.BulkItemResult(index=2, job_id="c", created=False),
    ]
    assert convert.bulk_result(results, 3) == {
        "succeeded": [
            {"index": 0, "job_id": "a", "created": True},
            {"index": 2, "job_id": "c", "created": False},
        ],
        "failed": [{"index": 1, "error": "duplicate"}],
        "total": 3,
        "success_count": 2,
        "failure_count": 1,
    }


class TestQueues:
    def test_config_and_summary(self) -> None:
        cfg = pb.QueueConfig(
            id="c",
            organization_id="o",
            queue_name="q",
            max_retries=3,
            default_timeout=300,
            enabled=True,
            settings=b'{"paused": false}',
            created_at=stamp(CREATED),
            updated_at=stamp(CREATED),
        )
        assert render(convert.queue_summary(cfg)) == {
            "queue_name": "q",
            "max_retries": 3,
            "default_timeout": 300,
            "rate_limit": None,
            "enabled": True,
        }
        full = render(convert.queue_config(cfg))
        assert full["settings"] == {"paused": False} and full["id"] == "c"
        assert render(convert.queue_config(pb.QueueConfig(rate_limit=10)))["settings"] == {}
        assert convert.queue_config(pb.QueueConfig(rate_limit=10))["rate_limit"] == 10

    def test_stats(self) -> None:
        out = convert.queue_stats(
            pb.QueueStats(
                queue_name="q",
                pending=4,
                processing=1,
                completed_24h=9,
                failed_24h=2,
                max_age_ms=61_999,
                active_workers=3,
            )
        )
        assert out["pending_jobs"] == 4 and out["max_job_age_seconds"] == 61
        assert out["avg_processing_time_ms"] is None and out["failed_jobs_24h"] == 2
        with_avg = pb.QueueStats(avg_processing_time_ms=12.5)
        assert convert.queue_stats(with_avg)["avg_processing_time_ms"] == 12.5

    def test_pause_resume(self) -> None:
        paused = convert.queue_paused(
            pb.PauseQueueResponse(queue_name="q", paused_at=stamp(CREATED), reason="deploy")
        )
        assert paused == {
            "queue_name": "q",
            "paused": True,
            "paused_at": "2026-01-02T03:04:05.123456Z",
            "reason": "deploy",
        }
        assert convert.queue_resumed(
            pb.ResumeQueueResponse(queue_name="q", paused_duration_secs=5)
        ) == {"queue_name": "q", "resumed": True, "paused_duration_secs": 5}


class TestWorkers:
    def worker(self) -> pb.Worker:
        return pb.Worker(
            id="w",
            organization_id="o",
            queue_name="q",
            hostname="h",
            max_concurrency=5,
            current_jobs=2,
            status="healthy",
            last_heartbeat=stamp(CREATED),
            metadata=b'{"k":"v"}',
            jobs_processed=10,
            jobs_failed=1,
        )

    def test_summary(self) -> None:
        out = convert.worker_summary(self.worker())
        assert out["max_concurrency"] == 5 and out["current_jobs"] == 2
        assert out["jobs_processed"] == 10

    def test_full_uses_upstream_names(self) -> None:
        out = render(convert.worker(self.worker()))
        assert out["max_concurrent_jobs"] == 5 and out["current_job_count"] == 2
        assert out["queue_names"] == ["q"] and out["metadata"] == {"k": "v"}
        assert out["worker_type"] is None and out["version"] is None

    def test_registered_falls_back_to_gateway_settings(self) -> None:
        reply = pb.RegisterWorkerResponse(worker=self.worker())
        assert convert.worker_registered(reply, 30, 10) == {
            "id": "w",
            "queue_name": "q",
            "lease_duration_secs": 30,
            "heartbeat_interval_secs": 10,
        }
        reply.lease_duration_secs = 60
        assert convert.worker_registered(reply, 30, 10)["lease_duration_secs"] == 60


def test_json_response() -> None:
    resp = convert.json_response({"a": convert.doc(b'{"x": 1}')}, 201, {"X-Has-More": "true"})
    assert resp.status_code == 201 and orjson.loads(resp.body) == {"a": {"x": 1}}
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-has-more"] == "true"
    assert convert.has_more_headers(False) == {"X-Has-More": "false"}
