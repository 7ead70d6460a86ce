"""Input rules of the public gRPC API: defaults, clamps and the exact error texts.

proto3 cannot tell an unset number from 0, so 0 (or less) means "default"
wherever a default exists. Values out of range are clamped where upstream
clamps and rejected where it rejects.
"""

from __future__ import annotations

import re

from spooled_common import errors

MAX_QUEUE_NAME = 255
#: Letters, digits, ``_ . -``; never starting with ``.`` or ``-``.
_QUEUE_CHARS = re.compile(r"^[A-Za-z0-9_.\-]+$")
_WORKER_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

#: Lease of a claim or renewal when the caller sends 0 (upstream gRPC default).
DEFAULT_LEASE_SECS = 300
MIN_LEASE_SECS = 5
MAX_LEASE_SECS = 3600
MAX_BATCH = 100
MIN_PRIORITY, MAX_PRIORITY = -100, 100
MAX_RETRIES = 100
MAX_TIMEOUT_SECS = 86_400
MAX_IDEMPOTENCY_KEY = 255
#: Failure texts are cut to the REST limit so both paths store the same shape.
MAX_ERROR_CHARS = 2048
TRUNCATION_SUFFIX = "... [truncated]"
#: What a Fail with an empty error records (same as the SDK's REST worker).
DEFAULT_ERROR_TEXT = "Job failed"
WORKER_DEFAULT_CONCURRENCY = 5
WORKER_MAX_CONCURRENCY = 100
WORKER_STATUSES = frozenset({"healthy", "degraded", "draining", "offline"})


def check_queue_name(name: str) -> None:
    if not name or len(name) > MAX_QUEUE_NAME:
        raise errors.ValidationError("Queue name must be 1-255 characters")
    if not _QUEUE_CHARS.match(name):
        raise errors.ValidationError(
            "Queue name can only contain alphanumeric characters, dashes, underscores, and dots"
        )
    if name[0] in ".-":
        raise errors.ValidationError("Queue name cannot start with dots or dashes")


def require(value: str, what: str) -> str:
    """Reject an empty proto3 string: ``what`` is e.g. "Job ID"."""
    if not value:
        raise errors.ValidationError(f"{what} is required")
    return value


def require_lease_id(lease_id: str) -> str:
    # Settlement is fenced on the exact lease; an empty token must never match.
    if not lease_id:
        raise errors.ValidationError("lease_id is required for job settlement")
    return lease_id


def lease_secs(requested: int) -> int:
    if requested <= 0:
        return DEFAULT_LEASE_SECS
    return min(max(requested, MIN_LEASE_SECS), MAX_LEASE_SECS)


def batch_size(requested: int) -> int:
    return min(max(requested, 1), MAX_BATCH)


def check_priority(priority: int) -> int:
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise errors.ValidationError("Priority must be between -100 and 100")
    return priority


def max_retries(requested: int) -> int | None:
    """None (queue default) for 0 or less; at most MAX_RETRIES."""
    return min(requested, MAX_RETRIES) if requested > 0 else None


def timeout_secs(requested: int) -> int | None:
    """None (queue default) for 0 or less; at most a day."""
    return min(requested, MAX_TIMEOUT_SECS) if requested > 0 else None


def check_idempotency_key(key: str) -> str | None:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise errors.ValidationError("Idempotency key must be at most 255 characters")
    return key or None


def check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise errors.PayloadTooLarge(f"{what} too large: {size} bytes (max: {limit} bytes)")


def error_text(text: str) -> str:
    if not text.strip():
        return DEFAULT_ERROR_TEXT
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - len(TRUNCATION_SUFFIX)] + TRUNCATION_SUFFIX


def check_worker_id(worker_id: str) -> str:
    if not _WORKER_ID.match(worker_id):
        raise errors.ValidationError(
            "worker_id must be 1-128 characters: letters, digits, '.', '_' or '-'"
        )
    return worker_id


def concurrency(requested: int) -> int:
    if requested <= 0:
        return WORKER_DEFAULT_CONCURRENCY
    return min(requested, WORKER_MAX_CONCURRENCY)


def worker_status(status: str) -> str:
    """Unknown statuses count as healthy (upstream logs and carries on)."""
    return status if status in WORKER_STATUSES else "healthy"
