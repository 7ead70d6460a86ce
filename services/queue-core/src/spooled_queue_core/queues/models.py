"""Inputs of the queue service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class QueueUpdate:
    """A config change; None leaves the field as it is (or at its default on creation)."""

    max_retries: int | None = None
    default_timeout: int | None = None
    rate_limit: int | None = None
    enabled: bool | None = None
    #: JSON object text merged into the existing settings.
    settings: str | None = None


@dataclass(frozen=True, slots=True)
class Paused:
    queue_name: str
    paused_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Resumed:
    queue_name: str
    paused_duration_secs: int
