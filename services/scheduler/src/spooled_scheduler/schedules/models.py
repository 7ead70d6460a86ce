"""What a schedule is made of, and the rules its fields obey.

The gateway validates request shapes too, but the scheduler owns cron and
time-zone semantics and is the last line before the database: every rule is
checked here, and a violation is a 400 with a message naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from spooled_common import errors

from spooled_scheduler.cron import CronError, CronSchedule, TimezoneError

SKIP = "skip"
CATCH_UP = "catch_up"
ALLOW = "allow"
#: missed_run_policy values: ``skip`` fires the latest missed tick once
#: (upstream behaviour); ``catch_up`` fires each missed tick, up to ``catch_up_limit``.
MISSED_RUN_POLICIES = (SKIP, CATCH_UP)
#: overlap_policy values: ``skip`` leaves a tick out while the previous run's
#: job is still pending, scheduled or processing.
OVERLAP_POLICIES = (ALLOW, SKIP)

DEFAULT_TIMEZONE = "UTC"
DEFAULT_PRIORITY = 0
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_SECS = 300
DEFAULT_CATCH_UP_LIMIT = 10
MAX_CATCH_UP_LIMIT = 1000
MAX_NAME = 255
MAX_DESCRIPTION = 1000
MAX_QUEUE_NAME = 100
#: The largest job payload any plan allows (API.md §14.1); the gateway applies
#: the caller's own, usually smaller, limit before this.
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024


def cron_schedule(expression: str, timezone: str) -> CronSchedule:
    """Parse a cron expression in a zone; a bad one is a 400 with a clear message."""
    try:
        return CronSchedule.parse(expression, timezone)
    except CronError as exc:
        raise errors.ValidationError(
            f"Invalid cron expression: {exc}",
            details=[{"field": "cron_expression", "message": str(exc), "code": "INVALID_CRON"}],
        ) from None
    except TimezoneError as exc:
        raise errors.ValidationError(
            str(exc),
            details=[{"field": "timezone", "message": str(exc), "code": "INVALID_TIMEZONE"}],
        ) from None


def json_text(value: Any) -> str | None:
    """A decoded JSONB value as JSON text for a parameter (None = SQL NULL)."""
    return None if value is None else orjson.dumps(value).decode()


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise errors.ValidationError(f"{field}: must be between {low} and {high}")


def _check_length(field: str, value: str | None, low: int, high: int) -> None:
    if value is not None and not low <= len(value) <= high:
        raise errors.ValidationError(f"{field}: must be {low}-{high} characters long")


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise errors.ValidationError(f"{field}: must be one of {', '.join(choices)}")


@dataclass(frozen=True)
class ScheduleFields:
    """The client-settable fields of a schedule, with defaults applied.

    JSON documents are raw JSON text (``None`` = SQL NULL).
    """

    name: str
    cron_expression: str
    queue_name: str
    payload_template: str
    description: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    priority: int = DEFAULT_PRIORITY
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_seconds: int = DEFAULT_TIMEOUT_SECS
    tags: str | None = None
    metadata: str | None = None
    is_active: bool = True
    missed_run_policy: str = SKIP
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT
    overlap_policy: str = ALLOW

    def validated(self) -> CronSchedule:
        """Check every field (400 on the first problem); returns the parsed cron."""
        _check_length("name", self.name, 1, MAX_NAME)
        _check_length("description", self.description, 0, MAX_DESCRIPTION)
        _check_length("queue_name", self.queue_name, 1, MAX_QUEUE_NAME)
        _check_range("priority", self.priority, -100, 100)
        _check_range("max_retries", self.max_retries, 0, 100)
        _check_range("timeout_seconds", self.timeout_seconds, 1, 86400)
        _check_range("catch_up_limit", self.catch_up_limit, 1, MAX_CATCH_UP_LIMIT)
        _check_choice("missed_run_policy", self.missed_run_policy, MISSED_RUN_POLICIES)
        _check_choice("overlap_policy", self.overlap_policy, OVERLAP_POLICIES)
        if not self.payload_template:
            raise errors.ValidationError("payload_template: is required")
        if len(self.payload_template.encode()) > MAX_TEMPLATE_BYTES:
            raise errors.PayloadTooLarge(
                f"payload_template: must be at most {MAX_TEMPLATE_BYTES} bytes of JSON"
            )
        return cron_schedule(self.cron_expression, self.timezone)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ScheduleFields:
        """The stored fields of a schedule row (JSON columns re-serialized)."""
        return cls(
            name=row["name"],
            cron_expression=row["cron_expression"],
            queue_name=row["queue_name"],
            payload_template=orjson.dumps(row["payload_template"]).decode(),
            description=row["description"],
            timezone=row["timezone"],
            priority=row["priority"],
            max_retries=row["max_retries"],
            timeout_seconds=row["timeout_seconds"],
            tags=json_text(row["tags"]),
            metadata=json_text(row["metadata"]),
            is_active=row["is_active"],
            missed_run_policy=row["missed_run_policy"],
            catch_up_limit=row["catch_up_limit"],
            overlap_policy=row["overlap_policy"],
        )

    def merged(self, changes: Mapping[str, Any]) -> ScheduleFields:
        """These fields with ``changes`` applied (absent keys keep their value)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise errors.ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


#: Fields whose change moves the next run (recomputed from now).
TIMING_FIELDS = frozenset({"cron_expression", "timezone"})
