"""Hostile input on the public gRPC API (``spooled.v1``): never INTERNAL/UNKNOWN, nothing half-written.

The whole suite runs as processes (``spooled_testing.stack``), the gateway's gRPC port on
loopback. Three kinds of abuse, on every method of QueueService and WorkerService:

* bytes that are not the method's message (a raw call with identity serializers);
* a message over the server's receive limit;
* hypothesis-generated messages: every field from its descriptor (empty, huge and unicode
  strings with null bytes, negative and extreme numbers, timestamps out of range, odd
  JSON payloads, maps).

Each call ends OK or with a clear status (INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED,
RESOURCE_EXHAUSTED, ...). Afterwards the tenant holds exactly the jobs and workers whose
calls succeeded. Our stubs are imported here (never in tests/e2e, where the SDK's copy of
the same protos lives).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from google.protobuf import descriptor as d
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spooled_proto.spooled.v1 import spooled_pb2 as pb
from spooled_testing import reliability
from spooled_testing.stack import Stack, running_stack

#: Codes that mean "the server broke", never acceptable for any input.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
RECEIVE_LIMIT = 6 * 1024 * 1024  # grpc_public.server.MAX_RECEIVE_BYTES
#: Examples per method (derandomized: the same inputs every run).
EXAMPLES = 40
METHODS = [
    (service.full_name, method)
    for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
PLAN_ENV = {
    "SPOOLED_PLAN_FREE_MAX_JOBS_PER_DAY": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_ACTIVE_JOBS": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_QUEUES": "unlimited",
    "SPOOLED_PLAN_FREE_MAX_WORKERS": "unlimited",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "100000",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_BURST": "100000",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="spooled-grpc-hostile-"))
    try:
        with running_stack(base, extra_env=PLAN_ENV) as s:
            yield s
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Tenant:
    def __init__(self, stack: Stack) -> None:
        slug = f"grpc-fuzz-{id(self):x}"
        r = httpx.post(
            f"{stack.base_url}/api/v1/organizations",
            json={"name": "gRPC fuzz", "slug": slug},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        self.org_id = r.json()["organization"]["id"]
        self.md = (("x-api-key", r.json()["api_key"]["key"]),)
        self.dsn = stack.database_url

    def count(self, table: str) -> int:
        async def run() -> int:
            conn = await asyncpg.connect(self.dsn)
            try:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT set_config('app.current_org_id', $1, true)", self.org_id
                    )
                    sql = f"SELECT count(*) FROM core.{table} WHERE organization_id = $1"
                    return int(await conn.fetchval(sql, self.org_id))
            finally:
                await conn.close()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return Tenant(stack)


@pytest.fixture(scope="module")
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    # The client may send more than the server accepts: the server's limit is under test.
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(stack.grpc_address, options=options) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


def raw_call(
    channel: grpc.Channel, service: str, method: d.MethodDescriptor, body: bytes, md: Any
) -> grpc.StatusCode:
    """Send ``body`` as-is (identity serializers); the final status code."""
    path = f"/{service}/{method.name}"
    try:
        if method.client_streaming:
            responses = channel.stream_stream(path)(iter([body]), metadata=md, timeout=15)
            for _ in responses:
                pass
        elif method.server_streaming:
            responses = channel.unary_stream(path)(body, metadata=md, timeout=15)
            # A well-formed StreamJobs stays open; one answer is enough to judge it.
            for _ in responses:
                responses.cancel()
                return grpc.StatusCode.OK
        else:
            channel.unary_unary(path)(body, metadata=md, timeout=15)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


GARBAGE = {
    "high-bytes": b"\xff\xff\xff\xff",
    "truncated-varint": b"\x08\xff\xff\xff",
    "length-past-end": b"\x0a\x7f" + b"a" * 4,
    "wrong-wire-type-for-string": b"\x0d\x00\x00\x00\x00",
    "invalid-utf8-string": b"\x0a\x02\xc3\x28",
    "group-tags": b"\x0b\x0c\x0b",
    "field-number-zero": b"\x00\x01",
}


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m.name for _, m in METHODS])
def test_malformed_bytes_are_invalid_argument(
    channel: grpc.Channel, tenant: Tenant, service: str, method: d.MethodDescriptor
) -> None:
    jobs, workers = tenant.count("jobs"), tenant.count("workers")
    for name, body in GARBAGE.items():
        for md in (tenant.md, ()):
            code = raw_call(channel, service, method, body, md)
            if _decodes(method, body):
                # Well-formed after all (a wrong wire type is just an unknown field): the
                # method's own answer, never a server fault.
                assert code not in SERVER_FAULTS, (name, bool(md), code)
                continue
            # A ProcessJobs stream is authenticated when it opens, before any message.
            opened = method.client_streaming and not md
            expected = {grpc.StatusCode.INVALID_ARGUMENT}
            expected |= {grpc.StatusCode.UNAUTHENTICATED} if opened else set()
            assert code in expected, (name, bool(md), code)
    assert (tenant.count("jobs"), tenant.count("workers")) == (jobs, workers)


def _decodes(method: d.MethodDescriptor, body: bytes) -> bool:
    try:
        _message_class(method.input_type).FromString(body)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m.name for _, m in METHODS])
def test_oversize_messages_are_resource_exhausted(
    channel: grpc.Channel, tenant: Tenant, service: str, method: d.MethodDescriptor
) -> None:
    jobs = tenant.count("jobs")
    # A well-formed message (field 1 is a string in every request) just over the limit.
    text = b"q" * (RECEIVE_LIMIT + 1)
    body = b"\x0a" + _varint(len(text)) + text
    code = raw_call(channel, service, method, body, tenant.md)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    assert tenant.count("jobs") == jobs


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# -- generated field values ------------------------------------------------------------
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "../../etc", "%2e%2e%2f", "ünï", "🚀" * 3]),
    st.text(alphabet="\x00\u202e\ufeff\U0010ffff", max_size=8),
    st.just("x" * 70_000),
)
INT32 = st.one_of(
    st.sampled_from([0, -1, 1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)
)
INT64 = st.one_of(st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | NASTY_TEXT.filter(lambda s: len(s) < 1000),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NASTY_TEXT, inner, max_size=4),
    max_leaves=12,
)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    d.FieldDescriptor.TYPE_STRING: NASTY_TEXT,
    d.FieldDescriptor.TYPE_INT32: INT32,
    d.FieldDescriptor.TYPE_INT64: INT64,
    d.FieldDescriptor.TYPE_BOOL: st.booleans(),
    d.FieldDescriptor.TYPE_ENUM: st.integers(-5, 10),
}
#: Valid values mixed in, so generated calls also get past validation.
_REALISTIC = {
    "queue_name": st.sampled_from(["fuzz-q", "fuzz.q_2"]),
    "worker_id": st.sampled_from(["fuzz-worker"]),
    "hostname": st.sampled_from(["fuzz-host"]),
}


def _struct() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(doc: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        json_format.ParseDict(doc, s) if _finite(doc) else s.update(doc)
        return s

    return st.dictionaries(NASTY_TEXT, JSON, max_size=5).map(build)


def _finite(doc: Any) -> bool:
    return "nan" not in repr(doc) and "inf" not in repr(doc)


def _timestamp() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    # Seconds far outside 0001..9999 and invalid nanos included: the wire allows them.
    return st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.one_of(st.integers(-(2**40), 2**40), INT64),
        nanos=st.one_of(st.integers(0, 999_999_999), INT32),
    )


def message(desc: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any message of type ``desc``, every field chosen by hypothesis (or left unset)."""
    if desc.full_name == "google.protobuf.Struct":
        return _struct()
    if desc.full_name == "google.protobuf.Timestamp":
        return _timestamp()
    cls = _message_class(desc)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        value = _field(f, depth)
        if value is not None:
            fields[f.name] = st.one_of(st.none(), value)
    if desc.oneofs:  # ProcessRequest: one of its branches
        oneof = desc.oneofs[0]
        return st.sampled_from(list(oneof.fields)).flatmap(
            lambda f: _field(f, depth).map(lambda v, f=f: cls(**{f.name: v}))  # type: ignore[union-attr]
        )
    return st.fixed_dictionaries({}, optional=fields).map(
        lambda kw: cls(**{k: v for k, v in kw.items() if v is not None})
    )


def _field(f: d.FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        return st.dictionaries(NASTY_TEXT, NASTY_TEXT, max_size=4)
    if f.message_type is not None:
        return message(f.message_type, depth + 1) if depth < 2 else None
    base = _SCALARS.get(f.type)
    if base is None:
        return None
    if f.name in _REALISTIC:
        base = st.one_of(_REALISTIC[f.name], base)
    return st.lists(base, max_size=3) if f.is_repeated else base


def _message_class(desc: d.Descriptor) -> Any:
    return getattr(pb, desc.name)


OBSERVED: Counter[tuple[str, str]] = Counter()
UNARY = [(s, m) for s, m in METHODS if not m.client_streaming and not m.server_streaming]


@pytest.mark.parametrize(("service", "method"), UNARY, ids=[m.name for _, m in UNARY])
def test_generated_messages_get_clear_statuses(
    channel: grpc.Channel, tenant: Tenant, service: str, method: d.MethodDescriptor
) -> None:
    created = {"jobs": 0}
    call = channel.unary_unary(
        f"/{service}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=_message_class(method.output_type).FromString,
    )
    jobs_before = tenant.count("jobs")

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=message(method.input_type))
    def fuzz(request: Any) -> None:
        try:
            reply = call(request, metadata=tenant.md, timeout=30)
        except grpc.RpcError as exc:
            code = exc.code()
            OBSERVED[(method.name, code.name)] += 1
            assert code not in SERVER_FAULTS, f"{method.name}: {code} {exc.details()}"
            assert exc.details(), f"{method.name}: {code} without a message"
            return
        OBSERVED[(method.name, "OK")] += 1
        if method.name == "Enqueue" and reply.created:
            created["jobs"] += 1

    fuzz()
    # Rejected calls wrote nothing: the jobs are exactly the ones acknowledged as created.
    assert tenant.count("jobs") == jobs_before + created["jobs"]


def test_summary(tenant: Tenant) -> None:
    """All generated calls were answered (recorded for docs/reliability.md)."""
    fuzzed = {name for name, _ in OBSERVED}
    assert fuzzed == {m.name for _, m in UNARY}, fuzzed
    assert not [k for k in OBSERVED if k[1] in {c.name for c in SERVER_FAULTS}]
    calls = sum(OBSERVED.values())
    codes = Counter[str]()
    for (_, code), n in OBSERVED.items():
        codes[code] += n
    reliability.record(
        "hostile input",
        "gRPC: malformed bytes, oversize messages, generated field values on every method",
        "never INTERNAL/UNKNOWN; garbage = INVALID_ARGUMENT, over 6 MiB = RESOURCE_EXHAUSTED; "
        "rejected calls write no job or worker",
        f"{len(METHODS)} methods x {len(GARBAGE)} garbage bodies (with and without a key), "
        f"{calls} generated calls: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())),
        requests=calls + len(METHODS) * (2 * len(GARBAGE) + 1),
        **{"5xx": 0},
    )
