"""What an endpoint is: its fields, the events it may subscribe to, and their rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spooled_common import errors

#: Subscribable events: upstream's ten plus the four the SDK adds. Keep in step
#: with the ``endpoints_events_valid`` constraint of 0001_webhooks.sql.
EVENT_TYPES: tuple[str, ...] = (
    "job.created",
    "job.started",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "job.deadlettered",
    "job.retried",
    "queue.paused",
    "queue.resumed",
    "worker.registered",
    "worker.deregistered",
    "schedule.triggered",
    "workflow.completed",
    "workflow.failed",
)
#: Delivery bodies: the signed JSON envelope, or a chat service's message.
FORMATS: tuple[str, ...] = ("json", "slack", "discord", "teams")

NAME_MAX = 255
URL_MAX = 2048
SECRET_MAX = 255


@dataclass(frozen=True, slots=True)
class EndpointFields:
    """The writable fields of an endpoint, validated as a whole."""

    name: str
    url: str
    events: tuple[str, ...]
    #: None: deliveries go out unsigned.
    secret: str | None = None
    enabled: bool = True
    format: str = "json"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EndpointFields:
        return cls(
            name=row["name"],
            url=row["url"],
            events=tuple(row["events"]),
            secret=row["secret"],
            enabled=row["enabled"],
            format=row["format"],
        )

    def merged(self, changes: Mapping[str, Any]) -> EndpointFields:
        """This with ``changes`` applied (a key present with None clears only ``secret``)."""
        return dataclasses.replace(self, **dict(changes))

    def validated(self) -> EndpointFields:
        """Raises ``ValidationError`` (400) naming the first bad field."""
        if not 1 <= len(self.name) <= NAME_MAX:
            raise errors.ValidationError(f"name: must be 1-{NAME_MAX} characters")
        if not 1 <= len(self.url) <= URL_MAX:
            raise errors.ValidationError(f"url: must be 1-{URL_MAX} characters")
        if not self.events:
            raise errors.ValidationError("events: at least one event is required")
        for event in self.events:
            if event not in EVENT_TYPES:
                raise errors.ValidationError(
                    f"Invalid event type: '{event}'. Valid types: [{', '.join(EVENT_TYPES)}]"
                )
        if self.secret is not None and not 1 <= len(self.secret) <= SECRET_MAX:
            raise errors.ValidationError(f"secret: must be 1-{SECRET_MAX} characters")
        if self.format not in FORMATS:
            raise errors.ValidationError(f"format: must be one of {', '.join(FORMATS)}")
        # Duplicates collapse, order kept: the stored list is what the caller meant.
        return dataclasses.replace(self, events=tuple(dict.fromkeys(self.events)))
