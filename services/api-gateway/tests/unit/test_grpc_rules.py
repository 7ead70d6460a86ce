"""Defaults, clamps and error texts of the public gRPC API (API.md §13)."""

from __future__ import annotations

import pytest
from spooled_common import errors
from spooled_gateway.grpc_public import rules


class TestQueueName:
    @pytest.mark.parametrize("name", ["q", "emails", "a.b-c_d", "Q1", "x" * 255, "_x"])
    def test_accepts(self, name: str) -> None:
        rules.check_queue_name(name)

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("", "Queue name must be 1-255 characters"),
            ("x" * 256, "Queue name must be 1-255 characters"),
            (
                "a b",
                "Queue name can only contain alphanumeric characters, dashes, "
                "underscores, and dots",
            ),
            (
                "a/b",
                "Queue name can only contain alphanumeric characters, dashes, "
                "underscores, and dots",
            ),
            (".hidden", "Queue name cannot start with dots or dashes"),
            ("-x", "Queue name cannot start with dots or dashes"),
        ],
    )
    def test_rejects(self, name: str, message: str) -> None:
        with pytest.raises(errors.ValidationError) as exc:
            rules.check_queue_name(name)
        assert exc.value.message == message


class TestLease:
    @pytest.mark.parametrize(
        ("requested", "expected"),
        [(0, 300), (-5, 300), (1, 5), (5, 5), (30, 30), (3600, 3600), (99999, 3600)],
    )
    def test_lease_secs(self, requested: int, expected: int) -> None:
        assert rules.lease_secs(requested) == expected

    def test_lease_id_required(self) -> None:
        with pytest.raises(errors.ValidationError) as exc:
            rules.require_lease_id("")
        assert exc.value.message == "lease_id is required for job settlement"
        assert rules.require_lease_id("L") == "L"


class TestBatchAndPriority:
    @pytest.mark.parametrize(("requested", "expected"), [(0, 1), (-1, 1), (7, 7), (101, 100)])
    def test_batch(self, requested: int, expected: int) -> None:
        assert rules.batch_size(requested) == expected

    @pytest.mark.parametrize("priority", [-100, 0, 100])
    def test_priority_in_range(self, priority: int) -> None:
        assert rules.check_priority(priority) == priority

    @pytest.mark.parametrize("priority", [-101, 101])
    def test_priority_out_of_range(self, priority: int) -> None:
        with pytest.raises(errors.ValidationError):
            rules.check_priority(priority)


class TestDefaults:
    def test_max_retries(self) -> None:
        assert rules.max_retries(0) is None
        assert rules.max_retries(-3) is None
        assert rules.max_retries(4) == 4
        assert rules.max_retries(1000) == 100

    def test_timeout(self) -> None:
        assert rules.timeout_secs(0) is None
        assert rules.timeout_secs(60) == 60
        assert rules.timeout_secs(10**6) == 86_400

    def test_idempotency_key(self) -> None:
        assert rules.check_idempotency_key("") is None
        assert rules.check_idempotency_key("k") == "k"
        with pytest.raises(errors.ValidationError):
            rules.check_idempotency_key("k" * 256)

    def test_size(self) -> None:
        rules.check_size("Payload", 10, 10)
        with pytest.raises(errors.PayloadTooLarge) as exc:
            rules.check_size("Payload", 11, 10)
        assert exc.value.message == "Payload too large: 11 bytes (max: 10 bytes)"
        assert exc.value.grpc_code.name == "INVALID_ARGUMENT"

    def test_required(self) -> None:
        with pytest.raises(errors.ValidationError) as exc:
            rules.require("", "Worker ID")
        assert exc.value.message == "Worker ID is required"


class TestErrorText:
    def test_short_text_kept(self) -> None:
        assert rules.error_text("boom") == "boom"

    def test_empty_text_gets_default(self) -> None:
        assert rules.error_text("") == "Job failed"
        assert rules.error_text("  ") == "Job failed"

    def test_long_text_truncated(self) -> None:
        out = rules.error_text("x" * 5000)
        assert len(out) == rules.MAX_ERROR_CHARS
        assert out.endswith("... [truncated]")


class TestWorkers:
    @pytest.mark.parametrize(("requested", "expected"), [(0, 5), (-1, 5), (8, 8), (101, 100)])
    def test_concurrency(self, requested: int, expected: int) -> None:
        assert rules.concurrency(requested) == expected

    def test_worker_id(self) -> None:
        assert rules.check_worker_id("stable-1.a_b") == "stable-1.a_b"
        for bad in ("", "a b", "x" * 129, "ä"):
            with pytest.raises(errors.ValidationError):
                rules.check_worker_id(bad)

    def test_status(self) -> None:
        assert rules.worker_status("draining") == "draining"
        assert rules.worker_status("bogus") == "healthy"
        assert rules.worker_status("") == "healthy"
