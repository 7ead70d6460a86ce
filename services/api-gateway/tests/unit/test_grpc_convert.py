"""Struct ↔ JSON and internal → public Job conversion for the public gRPC API."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from google.protobuf import struct_pb2
from spooled_common import timefmt
from spooled_gateway.grpc_public import convert
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb
from spooled_proto.spooled.v1 import spooled_pb2 as pb


def _struct(doc: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


class TestStructToJson:
    def test_integral_numbers_come_back_as_integers(self) -> None:
        raw = convert.struct_to_json(_struct({"n": 1, "neg": -7, "zero": 0}))
        assert b"1.0" not in raw
        out = orjson.loads(raw)
        assert out == {"n": 1, "neg": -7, "zero": 0}
        assert all(isinstance(v, int) for v in out.values())

    def test_fractions_stay_floats(self) -> None:
        assert orjson.loads(convert.struct_to_json(_struct({"f": 1.5}))) == {"f": 1.5}

    def test_nested_lists_and_objects(self) -> None:
        doc = {"a": [1, "x", True, None, {"b": [2.0, 2.5]}], "c": {"d": {"e": 3}}}
        out = orjson.loads(convert.struct_to_json(_struct(doc)))
        assert out == {"a": [1, "x", True, None, {"b": [2, 2.5]}], "c": {"d": {"e": 3}}}
        assert isinstance(out["a"][4]["b"][0], int)

    def test_integers_beyond_double_precision_stay_floats(self) -> None:
        out = orjson.loads(convert.struct_to_json(_struct({"big": float(2**60)})))
        assert out == {"big": float(2**60)}
        assert isinstance(out["big"], float)

    def test_empty_struct(self) -> None:
        assert convert.struct_to_json(struct_pb2.Struct()) == b"{}"


class TestJsonIntoStruct:
    def test_object_fills_target(self) -> None:
        target = struct_pb2.Struct()
        assert convert.json_into_struct(b'{"a": 1, "b": [true]}', target)
        assert convert.struct_to_py(target) == {"a": 1, "b": [True]}

    def test_non_objects_are_left_unset(self) -> None:
        for raw in (b"[1, 2]", b'"text"', b"3", b"null", b""):
            job = pb.Job()
            assert not convert.json_into_struct(raw, job.payload)
            assert not job.HasField("payload")

    def test_empty_object_is_present(self) -> None:
        job = pb.Job()
        assert convert.json_into_struct(b"{}", job.result)
        assert job.HasField("result")


class TestStringMap:
    def test_map_to_json_object(self) -> None:
        req = pb.EnqueueRequest(tags={"env": "prod", "team": "a"})
        assert orjson.loads(convert.string_map_to_json(req.tags)) == {"env": "prod", "team": "a"}


class TestJobToPb:
    def _core_job(self, **overrides: object) -> core_pb.Job:
        created = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
        job = core_pb.Job(
            id="j1",
            organization_id="o1",
            queue_name="emails",
            status="processing",
            payload=b'{"to": "a@b.c", "n": 1}',
            retry_count=2,
            max_retries=5,
            priority=10,
            timeout_seconds=60,
            assigned_worker_id="w1",
            lease_id="L1",
            idempotency_key="k1",
            tags=b'{"x": "y"}',
            dependency_mode="all",
        )
        job.created_at.CopyFrom(timefmt.to_ts(created))
        job.lease_expires_at.CopyFrom(timefmt.to_ts(created))
        for key, value in overrides.items():
            setattr(job, key, value)
        return job

    def test_fields(self) -> None:
        out = convert.job_to_pb(self._core_job())
        assert (out.id, out.organization_id, out.queue_name) == ("j1", "o1", "emails")
        assert out.status == pb.JOB_STATUS_PROCESSING
        assert convert.struct_to_py(out.payload) == {"to": "a@b.c", "n": 1}
        assert not out.HasField("result")
        assert (out.retry_count, out.max_retries, out.priority, out.timeout_seconds) == (
            2,
            5,
            10,
            60,
        )
        assert (out.assigned_worker_id, out.lease_id, out.idempotency_key) == ("w1", "L1", "k1")
        assert out.last_error == ""
        assert timefmt.from_ts(out, "created_at") == datetime(
            2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
        )
        assert out.HasField("lease_expires_at")
        assert not out.HasField("started_at")
        assert not out.HasField("completed_at")

    def test_every_status_maps(self) -> None:
        expected = {
            "pending": pb.JOB_STATUS_PENDING,
            "scheduled": pb.JOB_STATUS_SCHEDULED,
            "processing": pb.JOB_STATUS_PROCESSING,
            "completed": pb.JOB_STATUS_COMPLETED,
            "failed": pb.JOB_STATUS_FAILED,
            "deadletter": pb.JOB_STATUS_DEADLETTER,
            "cancelled": pb.JOB_STATUS_CANCELLED,
            "weird": pb.JOB_STATUS_UNSPECIFIED,
        }
        for name, value in expected.items():
            assert convert.job_to_pb(self._core_job(status=name)).status == value

    def test_result_and_error(self) -> None:
        out = convert.job_to_pb(
            self._core_job(status="completed", result=b'{"ok": true}', last_error="boom")
        )
        assert convert.struct_to_py(out.result) == {"ok": True}
        assert out.last_error == "boom"

    def test_non_object_payload_is_empty(self) -> None:
        out = convert.job_to_pb(self._core_job(payload=b"[1, 2, 3]"))
        assert not out.HasField("payload")
