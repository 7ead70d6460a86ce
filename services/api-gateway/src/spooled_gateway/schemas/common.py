"""Building blocks shared by the request models: field types, body parsing, JSON sizing.

Request bodies are parsed with ``Model.model_validate_json(raw)`` rather than
FastAPI's body injection: pydantic-core parses and validates the bytes in one
pass (FastAPI would ``json.loads`` first, then validate the Python objects).
A failure is re-raised as FastAPI's ``RequestValidationError`` so
``http_errors`` renders it exactly like any other 400 (``INVALID_JSON`` for bad
syntax, ``VALIDATION_ERROR`` otherwise).

Models are ``strict`` (``"5"`` is not a priority, ``true`` is not a count: wrong
types are 400, as with upstream's serde) and forbid unknown fields.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
import pydantic
from fastapi.exceptions import RequestValidationError
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from spooled_common import errors

#: Cap on the serialized size of tags, queue settings and worker metadata.
MAX_DOC_BYTES = 64 * 1024

_QUEUE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
QUEUE_NAME_RULE = (
    "must be 1-100 characters of letters, digits, '_', '.' or '-', not starting with '.' or '-'"
)


def check_queue_name(name: str) -> str:
    """Pydantic validator: the upstream queue-name rule (also refuses ``..``)."""
    if not _QUEUE_NAME_RE.fullmatch(name):
        raise ValueError(f"queue_name {QUEUE_NAME_RULE}")
    return name


def path_queue_name(name: str) -> str:
    """The same rule for a path or query parameter, as a 400."""
    if not _QUEUE_NAME_RE.fullmatch(name):
        raise errors.ValidationError(
            f"queue_name: queue name {QUEUE_NAME_RULE}",
            details=[
                {
                    "field": "queue_name",
                    "message": f"queue name {QUEUE_NAME_RULE}",
                    "code": "INVALID_QUEUE_NAME",
                }
            ],
        )
    return name


def path_id(value: str, field: str = "id") -> str:
    """Job and worker ids in paths: 1..255 characters (anything longer cannot exist)."""
    if not 0 < len(value) <= 255:
        raise errors.ValidationError(f"{field}: must be 1-255 characters")
    return value


def _json_doc(value: Any) -> Any:
    if value is not None and not isinstance(value, dict | list):
        raise ValueError("must be a JSON object or array")
    return value


_NUMBER_RE = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*")


def _timestamp_text(value: Any) -> Any:
    """Timestamps in query strings are RFC 3339 text, as upstream (chrono) reads them;
    pydantic alone would also take ``0.5`` or ``1700000000`` as seconds since the epoch."""
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
    return value


#: A ``datetime`` query parameter (``created_after``, ``since``, ...).
QueryTimestamp = Annotated[datetime, BeforeValidator(_timestamp_text)]
QueueName = Annotated[
    str,
    AfterValidator(check_queue_name),
    # The same rule, stated in the OpenAPI document (validation stays check_queue_name's).
    Field(json_schema_extra={"pattern": f"^{_QUEUE_NAME_RE.pattern}$"}),
]
JobId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
WorkerId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
LeaseId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Priority = Annotated[int, Field(ge=-100, le=100)]
MaxRetries = Annotated[int, Field(ge=0, le=100)]
TimeoutSecs = Annotated[int, Field(ge=1, le=86400)]
LeaseSecs = Annotated[int, Field(ge=5, le=3600)]
#: Tags: a JSON object or array (``tags ? x`` matches an element or a key).
JsonDoc = Annotated[Any, AfterValidator(_json_doc)]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """A response body as the OpenAPI document states it.

    Never instantiated: routes render with orjson and skip response validation (the hot
    paths cannot afford it), so these only document the body for clients and for the
    schemathesis conformance check. Unknown fields are allowed because upstream adds
    fields between versions and clients must tolerate them.
    """

    model_config = ConfigDict(extra="allow")


class Success(ResponseModel):
    """``{"success": true}``: the settlement and lease-extension acknowledgement."""

    success: bool


def documented(model: object, description: str, *status: int) -> dict[int | str, Any]:
    """``responses=`` entry documenting a body the route renders itself (default: 200)."""
    return {code: {"model": model, "description": description} for code in status or (200,)}


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """Validate a JSON request body; failures become the standard 400."""
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def parse_optional_body(model: type[M], raw: bytes) -> M:
    """Like :func:`parse_body`, but an empty body means ``{}`` (SDKs send none)."""
    return parse_body(model, raw if raw.strip() else b"{}")


def dump_json(value: Any, field: str) -> bytes:
    """Serialize a client JSON document once, for queue-core (JSON bytes on the wire)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        # Only numbers beyond 64 bits get here: the value came from a JSON parser.
        raise errors.ValidationError(f"{field}: {exc}") from None


def dump_doc(value: Any, field: str, limit: int = MAX_DOC_BYTES) -> bytes:
    """Serialize tags/settings/metadata, refusing documents over ``limit`` bytes (400)."""
    if value is None:
        return b""
    raw = dump_json(value, field)
    if len(raw) > limit:
        raise errors.ValidationError(f"{field}: must be at most {limit} bytes of JSON")
    return raw


def dump_payload(value: Any, limit: int, field: str = "payload") -> bytes:
    """Serialize a job payload or result; over ``limit`` bytes is 413 PAYLOAD_TOO_LARGE."""
    raw = dump_json(value, field)
    if len(raw) > limit:
        raise errors.PayloadTooLarge(
            f"{field.capitalize()} size ({len(raw)} bytes) exceeds the maximum ({limit} bytes)",
            extra={"current": len(raw), "limit": limit},
        )
    return raw


def to_ts(dt: datetime | None) -> Timestamp | None:
    """A request datetime as a protobuf Timestamp; a naive one is taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def openapi_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting a body the handler parses itself.

    Nested models are inlined, since ``openapi_extra`` cannot add components.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }
