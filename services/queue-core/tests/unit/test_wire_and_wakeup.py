from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb
from spooled_queue_core import wire
from spooled_queue_core.wakeup import Wakeup, payload

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def job_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "j1",
        "organization_id": "o",
        "queue_name": "q",
        "status": "pending",
        "payload": '{"a": 1}',
        "result": None,
        "retry_count": 0,
        "max_retries": 3,
        "last_error": None,
        "priority": 0,
        "timeout_seconds": 300,
        "created_at": NOW,
        "scheduled_at": None,
        "started_at": None,
        "completed_at": None,
        "expires_at": None,
        "lease_expires_at": None,
        "updated_at": NOW,
        "assigned_worker_id": None,
        "lease_id": None,
        "idempotency_key": None,
        "tags": None,
        "parent_job_id": None,
        "completion_webhook": None,
        "workflow_id": None,
        "dependency_mode": "all",
        "dependencies_met": True,
    }
    row.update(over)
    return row


class TestWire:
    def test_job_passes_json_through_and_leaves_absent_fields_unset(self) -> None:
        msg = wire.job(job_row())
        assert msg.payload == b'{"a": 1}' and msg.result == b"" and msg.tags == b""
        assert not msg.HasField("last_error") and not msg.HasField("scheduled_at")
        assert msg.created_at.ToDatetime(tzinfo=UTC) == NOW

    def test_job_optional_fields(self) -> None:
        msg = wire.job(job_row(last_error="boom", lease_id="L", scheduled_at=NOW))
        assert msg.last_error == "boom" and msg.lease_id == "L" and msg.HasField("scheduled_at")

    def test_new_job_from_spec(self) -> None:
        spec = pb.JobSpec(queue_name="q", payload=b"", idempotency_key="", max_retries=0)
        job = wire.new_job(spec)
        assert job.payload == "null" and job.idempotency_key is None and job.max_retries == 0
        assert wire.new_job(pb.JobSpec(queue_name="q")).max_retries is None

    def test_json_must_be_utf8(self) -> None:
        with pytest.raises(errors.ValidationError):
            wire.json_param(b"\xff")


class TestWakeupDispatch:
    async def test_notification_wakes_only_matching_waiters(self) -> None:
        w = Wakeup("postgresql://unused")
        with w.subscribe("o", "q") as mine, w.subscribe("o", "other") as theirs:
            w._on_notify(None, 0, w.channel, payload("o", "q"))
            assert mine.is_set() and not theirs.is_set()
        assert w._waiters == {}

    async def test_closing_wakes_everyone(self) -> None:
        w = Wakeup("postgresql://unused")
        with w.subscribe("o", "q") as ev:
            w.closing = True
            w.wake_all()
            await asyncio.wait_for(ev.wait(), 1)
        with w.subscribe("o", "q") as late:
            assert late.is_set()
