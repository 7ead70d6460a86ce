"""Request bodies of ``/queues/{name}/...``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from spooled_gateway.schemas.common import MaxRetries, QueueName, RequestModel, TimeoutSecs


def _object(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValueError("settings must be a JSON object")
    return value


class UpdateQueueConfig(RequestModel):
    """``PUT /queues/{name}/config``: omitted fields keep their current value."""

    max_retries: MaxRetries | None = None
    default_timeout: TimeoutSecs | None = None
    rate_limit: Annotated[int, Field(ge=1, le=100_000)] | None = None
    enabled: bool | None = None
    #: Merged into the stored settings object; at most 64 KB serialized.
    settings: Annotated[Any, AfterValidator(_object)] = None
    #: Old clients repeat the name in the body (upstream once required it); the path wins.
    queue_name: QueueName | None = None


class PauseQueue(RequestModel):
    """``POST /queues/{name}/pause``: ``{}``, ``{"reason": ...}`` or no body at all."""

    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
