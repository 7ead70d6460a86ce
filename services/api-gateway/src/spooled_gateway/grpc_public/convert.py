"""Translation between the public ``spooled.v1`` messages and queue-core's internal ones.

Internally JSON documents travel as raw bytes; publicly they are
``google.protobuf.Struct``. Struct can only hold an object and stores every
number as a double, so:

* a non-object document (a REST payload like ``[1, 2]``) is left unset on the
  public message, as upstream does (the SDK reads it as ``{}``);
* integral doubles are written back as JSON integers, so ``{"n": 1}`` sent over
  gRPC is stored, and shown over REST, as ``1`` and not ``1.0``. Integers above
  2**53 cannot survive a double; that is a limit of Struct, not of ours.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import struct_pb2
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as core_pb
from spooled_proto.spooled.v1 import spooled_pb2 as pb

#: Largest integer a double holds exactly; larger integral values stay floats.
_MAX_EXACT_INT = 2**53

STATUS_TO_PB: dict[str, int] = {
    "pending": pb.JOB_STATUS_PENDING,
    "scheduled": pb.JOB_STATUS_SCHEDULED,
    "processing": pb.JOB_STATUS_PROCESSING,
    "completed": pb.JOB_STATUS_COMPLETED,
    "failed": pb.JOB_STATUS_FAILED,
    "deadletter": pb.JOB_STATUS_DEADLETTER,
    "cancelled": pb.JOB_STATUS_CANCELLED,
}

_TIMESTAMPS = ("created_at", "scheduled_at", "started_at", "completed_at", "lease_expires_at")


def value_to_py(value: struct_pb2.Value) -> Any:
    """One Struct ``Value`` as plain Python, integral numbers as ``int``."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        n = value.number_value
        if n.is_integer() and abs(n) <= _MAX_EXACT_INT:
            return int(n)
        return n
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_py(value.struct_value)
    if kind == "list_value":
        return [value_to_py(v) for v in value.list_value.values]
    return None  # null_value, or a Value with nothing set


def struct_to_py(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value_to_py(v) for key, v in struct.fields.items()}


def struct_to_json(struct: struct_pb2.Struct) -> bytes:
    """A Struct as compact JSON bytes, the form queue-core stores."""
    return orjson.dumps(struct_to_py(struct))


def json_into_struct(raw: bytes, target: struct_pb2.Struct) -> bool:
    """Fill ``target`` from JSON bytes; False (target untouched) unless it is an object."""
    if not raw:
        return False
    doc = orjson.loads(raw)
    if not isinstance(doc, dict):
        return False
    target.SetInParent()  # an empty object is still present, unlike null
    target.update(doc)
    return True


def string_map_to_json(mapping: Any) -> bytes:
    """A proto ``map<string,string>`` (tags, metadata) as a JSON object."""
    return orjson.dumps(dict(mapping))


def job_to_pb(job: core_pb.Job) -> pb.Job:
    """queue-core's Job as the public ``spooled.v1.Job``."""
    out = pb.Job(
        id=job.id,
        organization_id=job.organization_id,
        queue_name=job.queue_name,
        status=STATUS_TO_PB.get(job.status, pb.JOB_STATUS_UNSPECIFIED),  # type: ignore[arg-type]
        retry_count=job.retry_count,
        max_retries=job.max_retries,
        last_error=job.last_error,
        priority=job.priority,
        timeout_seconds=job.timeout_seconds,
        assigned_worker_id=job.assigned_worker_id,
        idempotency_key=job.idempotency_key,
        lease_id=job.lease_id,
    )
    json_into_struct(job.payload, out.payload)
    json_into_struct(job.result, out.result)
    for name in _TIMESTAMPS:
        if job.HasField(name):
            getattr(out, name).CopyFrom(getattr(job, name))
    return out
