"""Request models: every SDK body parses; bad input is refused with a clear 400/413."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.exceptions import RequestValidationError
from spooled_common import errors
from spooled_gateway.http_errors import validation_details
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import jobs as job_schemas
from spooled_gateway.schemas import queues as queue_schemas
from spooled_gateway.schemas import workers as worker_schemas


def parse(model: type[Any], body: Any) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return common.parse_body(model, raw)


def refused(model: type[Any], body: Any) -> tuple[str, list[dict[str, str]], bool]:
    with pytest.raises(RequestValidationError) as info:
        parse(model, body)
    return validation_details(info.value)


class TestQueueName:
    @pytest.mark.parametrize("name", ["q", "emails", "a.b-c_d", "_x", "9", "Q" * 100])
    def test_accepts(self, name: str) -> None:
        assert common.check_queue_name(name) == name
        assert common.path_queue_name(name) == name

    @pytest.mark.parametrize(
        "name", ["", ".hidden", "-x", "..", "../etc", "a/b", "a b", "q" * 101, "é", "a\n", "a%2Fb"]
    )
    def test_refuses(self, name: str) -> None:
        with pytest.raises(ValueError):
            common.check_queue_name(name)
        with pytest.raises(errors.ValidationError) as info:
            common.path_queue_name(name)
        assert info.value.status == 400


class TestCreateJob:
    def test_sdk_captured_body(self) -> None:
        body = parse(
            job_schemas.CreateJob, {"queue_name": "q", "payload": {"a": 1}, "idempotency_key": "k1"}
        )
        assert body.queue_name == "q" and body.payload == {"a": 1}
        assert body.idempotency_key == "k1" and body.priority is None

    def test_every_sdk_field(self) -> None:
        body = parse(
            job_schemas.CreateJob,
            {
                "queue_name": "q",
                "payload": [1, "x", None],
                "priority": -100,
                "max_retries": 0,
                "timeout_seconds": 86400,
                "scheduled_at": "2030-01-01T00:00:00Z",
                "expires_at": "2030-01-02T00:00:00+00:00",
                "idempotency_key": "k" * 255,
                "tags": ["a", "b"],
                "parent_job_id": "p",
                "completion_webhook": "https://h.io/x",
                "completion_webhook_secret": "s" * 255,
            },
        )
        assert body.scheduled_at == datetime(2030, 1, 1, tzinfo=UTC)
        assert body.tags == ["a", "b"] and body.max_retries == 0

    @pytest.mark.parametrize("payload", [None, 0, "text", [], {"deep": {"er": [1, 2.5, True]}}])
    def test_payload_is_any_json(self, payload: Any) -> None:
        assert (
            parse(job_schemas.CreateJob, {"queue_name": "q", "payload": payload}).payload == payload
        )

    def test_payload_required(self) -> None:
        message, details, _ = refused(job_schemas.CreateJob, {"queue_name": "q"})
        assert details[0]["field"] == "payload" and "Missing" in message

    def test_unknown_field(self) -> None:
        message, details, _ = refused(
            job_schemas.CreateJob, {"queue_name": "q", "payload": {}, "colour": "red"}
        )
        assert message == "colour: Unknown field 'colour'"
        assert details[0]["code"] == "EXTRA_FORBIDDEN"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("priority", 101),
            ("priority", -101),
            ("priority", "5"),
            ("priority", 1.5),
            ("priority", True),
            ("max_retries", -1),
            ("max_retries", 101),
            ("timeout_seconds", 0),
            ("timeout_seconds", 86401),
            ("idempotency_key", "k" * 256),
            ("idempotency_key", 5),
            ("tags", "urgent"),
            ("tags", 3),
            ("scheduled_at", "tomorrow"),
            ("completion_webhook", "ftp://x.io/"),
            ("completion_webhook", "not a url"),
            ("completion_webhook", "https://"),
            ("completion_webhook_secret", "s" * 256),
            ("queue_name", ".q"),
            ("queue_name", 5),
            ("parent_job_id", ""),
        ],
    )
    def test_bad_field(self, field: str, value: Any) -> None:
        body = {"queue_name": "q", "payload": {}, field: value}
        _, details, json_error = refused(job_schemas.CreateJob, body)
        assert not json_error and details[0]["field"].startswith(field)

    @pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b'{"queue_name": "q",}', b"nul"])
    def test_malformed_json(self, raw: bytes) -> None:
        _, details, json_error = refused(job_schemas.CreateJob, raw)
        assert json_error and details[0]["code"] == "PARSE_ERROR"

    @pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null", b"1"])
    def test_body_must_be_object(self, raw: bytes) -> None:
        _, _, json_error = refused(job_schemas.CreateJob, raw)
        assert not json_error


class TestBulk:
    def test_sdk_captured_body(self) -> None:
        body = parse(
            job_schemas.BulkCreateJobs,
            {
                "queue_name": "q",
                "jobs": [{"payload": {"n": 1}}, {"payload": {"n": 2}, "idempotency_key": "b2"}],
                "default_priority": 5,
                "default_max_retries": 2,
                "default_timeout_seconds": 60,
            },
        )
        assert [j.idempotency_key for j in body.jobs] == [None, "b2"]

    @pytest.mark.parametrize("count", [0, 101])
    def test_item_count(self, count: int) -> None:
        refused(
            job_schemas.BulkCreateJobs,
            {"queue_name": "q", "jobs": [{"payload": i} for i in range(count)]},
        )

    def test_hundred_items(self) -> None:
        body = parse(
            job_schemas.BulkCreateJobs,
            {"queue_name": "q", "jobs": [{"payload": i} for i in range(100)]},
        )
        assert len(body.jobs) == 100

    def test_bad_item_names_its_index(self) -> None:
        message, _, _ = refused(
            job_schemas.BulkCreateJobs,
            {"queue_name": "q", "jobs": [{"payload": 1}, {"payload": 2, "priority": 500}]},
        )
        assert message.startswith("jobs.1.priority")

    def test_unknown_item_field(self) -> None:
        refused(
            job_schemas.BulkCreateJobs,
            {"queue_name": "q", "jobs": [{"payload": 1, "queue_name": "other"}]},
        )


class TestWorkerBodies:
    def test_claim_sdk_body(self) -> None:
        body = parse(
            job_schemas.ClaimJobs,
            {"queue_name": "q", "worker_id": "w1", "limit": 1, "lease_duration_secs": 30},
        )
        assert body.limit == 1 and body.wait_ms is None

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("limit", 0),
            ("limit", 101),
            ("lease_duration_secs", 4),
            ("lease_duration_secs", 3601),
            ("worker_id", ""),
            ("worker_id", "w" * 256),
            ("wait_ms", 30_001),
        ],
    )
    def test_claim_bounds(self, field: str, value: Any) -> None:
        refused(job_schemas.ClaimJobs, {"queue_name": "q", "worker_id": "w", field: value})

    def test_complete_fail_heartbeat_sdk_bodies(self) -> None:
        done = parse(
            job_schemas.CompleteJob, {"worker_id": "w1", "result": {"ok": True}, "lease_id": "L-j1"}
        )
        assert done.result == {"ok": True}
        failed = parse(
            job_schemas.FailJob, {"worker_id": "w1", "error": "boom", "lease_id": "L-j1"}
        )
        assert failed.retry is None
        beat = parse(
            job_schemas.HeartbeatJob,
            {"worker_id": "w1", "lease_duration_secs": 30, "lease_id": "L-j1"},
        )
        assert beat.lease_id == "L-j1"

    def test_lease_id_optional_in_the_model(self) -> None:
        # Refused by the route with 409 LEASE_EXPIRED, not by the model (see routes.jobs._lease).
        assert parse(job_schemas.CompleteJob, {"worker_id": "w"}).lease_id is None

    @pytest.mark.parametrize("error", ["", "e" * 2049])
    def test_fail_error_length(self, error: str) -> None:
        refused(job_schemas.FailJob, {"worker_id": "w", "error": error, "lease_id": "l"})

    def test_fail_error_at_limit(self) -> None:
        assert (
            len(parse(job_schemas.FailJob, {"worker_id": "w", "error": "é" * 2048}).error) == 2048
        )

    def test_register_sdk_worker_body(self) -> None:
        body = parse(
            worker_schemas.RegisterWorker,
            {
                "queue_name": "q",
                "hostname": "host-1.local",
                "worker_id": "stable-1",
                "worker_type": "python",
                "max_concurrency": 2,
                "metadata": {},
                "version": "1.6.0",
            },
        )
        assert body.worker_id == "stable-1"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("hostname", ""),
            ("hostname", "-h"),
            ("hostname", "h."),
            ("hostname", "a b"),
            ("worker_id", "has space"),
            ("worker_id", "w" * 129),
            ("max_concurrency", 0),
            ("max_concurrency", 101),
            ("worker_type", "t" * 51),
            ("version", "v" * 51),
        ],
    )
    def test_register_bounds(self, field: str, value: Any) -> None:
        refused(worker_schemas.RegisterWorker, {"queue_name": "q", "hostname": "h", field: value})

    @pytest.mark.parametrize(
        ("status", "expected"),
        [("healthy", "healthy"), ("draining", "draining"), ("weird", "healthy"), (None, "healthy")],
    )
    def test_heartbeat_status_is_lenient(self, status: str | None, expected: str) -> None:
        body = parse(worker_schemas.WorkerHeartbeat, {"current_jobs": 0, "status": status})
        assert body.normalized_status == expected

    @pytest.mark.parametrize("body", [{}, {"current_jobs": -1}, {"current_jobs": 1001}])
    def test_heartbeat_current_jobs(self, body: dict[str, Any]) -> None:
        refused(worker_schemas.WorkerHeartbeat, body)


class TestDlqBodies:
    def test_retry(self) -> None:
        body = parse(
            job_schemas.RetryDeadLetters, {"queue_name": "q", "job_ids": ["a"], "limit": 10}
        )
        assert body.job_ids == ["a"]
        assert common.parse_optional_body(job_schemas.RetryDeadLetters, b"").job_ids is None

    def test_retry_ids_over_limit(self) -> None:
        refused(job_schemas.RetryDeadLetters, {"job_ids": ["a", "b"], "limit": 1})
        refused(job_schemas.RetryDeadLetters, {"job_ids": [str(i) for i in range(101)]})

    def test_purge_sdk_body(self) -> None:
        body = parse(
            job_schemas.PurgeDeadLetters,
            {"confirm": True, "older_than": "2026-01-01T00:00:00+00:00"},
        )
        assert body.confirm is True
        assert parse(job_schemas.PurgeDeadLetters, {}).confirm is None
        refused(job_schemas.PurgeDeadLetters, {"confirm": "yes"})
        refused(job_schemas.PurgeDeadLetters, {"confirm": True, "limit": 10_001})


class TestQueueBodies:
    def test_update_without_queue_name(self) -> None:
        body = parse(queue_schemas.UpdateQueueConfig, {"max_retries": 5})
        assert body.model_fields_set == {"max_retries"}

    def test_update_tolerates_legacy_queue_name(self) -> None:
        assert parse(queue_schemas.UpdateQueueConfig, {"queue_name": "q"}).queue_name == "q"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("max_retries", 101),
            ("default_timeout", 0),
            ("rate_limit", 0),
            ("rate_limit", 100_001),
            ("enabled", "yes"),
            ("settings", [1]),
            ("settings", "x"),
        ],
    )
    def test_update_bounds(self, field: str, value: Any) -> None:
        refused(queue_schemas.UpdateQueueConfig, {field: value})

    def test_pause_bodies(self) -> None:
        assert common.parse_optional_body(queue_schemas.PauseQueue, b"").reason is None
        assert common.parse_optional_body(queue_schemas.PauseQueue, b"{}").reason is None
        assert parse(queue_schemas.PauseQueue, {"reason": "deploy"}).reason == "deploy"
        refused(queue_schemas.PauseQueue, {"reason": "r" * 501})


class TestJsonDocuments:
    def test_payload_limit_is_413(self) -> None:
        assert common.dump_payload({"a": "x" * 10}, 100) == b'{"a":"xxxxxxxxxx"}'
        with pytest.raises(errors.PayloadTooLarge) as info:
            common.dump_payload({"a": "x" * 100}, 100)
        assert info.value.status == 413 and info.value.code == "PAYLOAD_TOO_LARGE"

    def test_number_beyond_64_bits_is_400(self) -> None:
        with pytest.raises(errors.ValidationError):
            common.dump_payload(2**70, 1000)

    def test_doc_limit_is_400(self) -> None:
        assert common.dump_doc(None, "tags") == b""
        assert common.dump_doc({"k": "v"}, "tags") == b'{"k":"v"}'
        with pytest.raises(errors.ValidationError):
            common.dump_doc(["x" * common.MAX_DOC_BYTES], "tags")

    def test_naive_datetime_is_utc(self) -> None:
        ts = common.to_ts(datetime(2030, 1, 1, 12, 0, 0))
        assert ts is not None and ts.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 12, tzinfo=UTC)
        assert common.to_ts(None) is None


class TestListing:
    def test_statuses(self) -> None:
        assert listing.statuses("failed,deadletter") == ["failed", "deadletter"]
        assert listing.statuses(" Pending , bogus") == ["pending"]
        assert listing.statuses("bogus") == [] and listing.statuses(None) == []

    def test_request_is_clamped_and_defaulted(self) -> None:
        req = listing.list_request(
            queue="q", limit=1000, offset=-5, order_by="evil; drop", order_dir="ASC"
        )
        assert (req.queue_name, req.limit, req.offset, req.order_by, req.order_dir) == (
            "q",
            100,
            0,
            "created_at",
            "asc",
        )
        assert listing.list_request(limit=0).limit == 1
        assert not listing.list_request().HasField("queue_name")

    def test_bad_queue_filter(self) -> None:
        with pytest.raises(errors.ValidationError):
            listing.list_request(queue_name="../x")


def test_openapi_bodies_are_self_contained() -> None:
    extra = common.openapi_body(job_schemas.BulkCreateJobs)
    assert "$ref" not in orjson.dumps(extra).decode()
    schema = extra["requestBody"]["content"]["application/json"]["schema"]
    assert "payload" in schema["properties"]["jobs"]["items"]["properties"]
