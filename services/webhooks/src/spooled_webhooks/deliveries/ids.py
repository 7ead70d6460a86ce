"""Delivery ids: derived, never random, so a redelivered event maps to the same row.

Invariant: one (target, event key, event type) always yields the same id,
whichever replica consumes the message and however often JetStream delivers
it; the receiver sees that id as ``webhook-id`` on every attempt. Guarded by
tests/integration/test_webhooks_delivery.py (TestRedelivery).
"""

from __future__ import annotations

import uuid

#: Fixed namespace of Spooled delivery ids (uuid5): never change it, or ids
#: of events still in flight would change between replicas.
NAMESPACE = uuid.UUID("6f0f7f5e-3b7a-5c1e-9d59-52f1a6a3c0de")
#: Target name of a job's own completion webhook.
COMPLETION = "completion"


def delivery_id(target: str, event_key: str, event: str) -> str:
    """``target`` is the endpoint id, or :data:`COMPLETION`."""
    return str(uuid.uuid5(NAMESPACE, f"{target}\x1f{event_key}\x1f{event}"))
