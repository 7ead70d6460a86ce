"""The outbox relay: publishes ``core.outbox`` rows to NATS JetStream after commit.

``wire`` is the message contract for consumers; ``relay.OutboxRelay`` the loop.
"""

from __future__ import annotations

from spooled_queue_core.outbox.relay import OutboxRelay
from spooled_queue_core.outbox.settings import RelaySettings

__all__ = ["OutboxRelay", "RelaySettings"]
