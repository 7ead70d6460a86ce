"""Delivery bodies: the JSON envelope as stored, or a chat service's message.

``json`` sends the stored envelope byte for byte (``{"id", "event",
"created_at", "data"}``). ``slack``, ``discord`` and ``teams`` send the one
message shape each service's incoming-webhook URL accepts, built from the
envelope. Signatures are always over the bytes actually sent.
"""

from __future__ import annotations

from typing import Any

import orjson


def summary(envelope: dict[str, Any]) -> str:
    """One line for humans: ``[Spooled] job.completed: job 42 in queue emails (completed)``."""
    event = str(envelope.get("event") or "event")
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    parts = [f"[Spooled] {event}:"]
    for label, key in (("job", "job_id"), ("worker", "worker_id"), ("workflow", "workflow_id")):
        if data.get(key):
            parts.append(f"{label} {data[key]}")
            break
    if data.get("queue_name"):
        parts.append(f"in queue {data['queue_name']}")
    if data.get("status"):
        parts.append(f"({data['status']})")
    if data.get("error"):
        parts.append(f"- {str(data['error'])[:300]}")
    return " ".join(parts)


def render(fmt: str, payload: str) -> bytes:
    """The request body for an endpoint of format ``fmt`` from the stored payload."""
    if fmt == "json":
        return payload.encode()
    doc = orjson.loads(payload)
    text = summary(doc if isinstance(doc, dict) else {})
    if fmt == "discord":
        return orjson.dumps({"content": text})
    # Slack and Teams incoming webhooks both take {"text": ...}.
    return orjson.dumps({"text": text})
