"""Timestamps on the wire: RFC 3339 UTC with microseconds and a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_ts(dt: datetime | None) -> Timestamp | None:
    if dt is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def from_ts(msg: object, field: str) -> datetime | None:
    """Read an optional Timestamp field (None when unset)."""
    if not msg.HasField(field):  # type: ignore[attr-defined]
        return None
    return getattr(msg, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def now() -> datetime:
    return datetime.now(UTC)
