"""What every handler shares: settings, the hub, queue-core, connection limits, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from spooled_common import errors
from spooled_common.tenant import Tenant

from spooled_realtime import identity, metrics
from spooled_realtime.core_client import CoreClient
from spooled_realtime.hub import Hub
from spooled_realtime.settings import RealtimeSettings


class ConnectionLimiter:
    """Open connections per organization in this replica (upstream: 100 per org)."""

    def __init__(self, max_per_org: int) -> None:
        self.max_per_org = max_per_org
        self._counts: dict[str, int] = {}

    def check(self, org_id: str, kind: str) -> None:
        if self._counts.get(org_id, 0) >= self.max_per_org:
            raise errors.RateLimited(f"Too many {kind} connections")

    def add(self, org_id: str, kind: str) -> None:
        self._counts[org_id] = self._counts.get(org_id, 0) + 1
        metrics.CONNECTIONS.labels(kind).inc()

    def remove(self, org_id: str, kind: str) -> None:
        left = self._counts.get(org_id, 0) - 1
        if left > 0:
            self._counts[org_id] = left
        else:
            self._counts.pop(org_id, None)
        metrics.CONNECTIONS.labels(kind).dec()


@dataclass
class Runtime:
    settings: RealtimeSettings
    hub: Hub
    core: CoreClient
    limiter: ConnectionLimiter
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, settings: RealtimeSettings) -> Runtime:
        return cls(
            settings=settings,
            hub=Hub(settings.nats_url, buffer=settings.subscriber_buffer),
            core=CoreClient(settings.queue_core_addr, settings.internal_token),
            limiter=ConnectionLimiter(settings.max_connections_per_org),
        )

    def authenticate(self, headers: Mapping[str, str]) -> Tenant:
        return identity.tenant_from_headers(headers, self.settings.internal_token)

    def deadline(self) -> float:
        return time.monotonic() + self.settings.sse_max_lifetime_secs

    @staticmethod
    def left(deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    @staticmethod
    def sent() -> None:
        metrics.EVENTS_SENT.inc()

    async def wait_closing(self, timeout: float) -> bool:
        """Sleep up to ``timeout``; True if the service began shutting down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout)
        return self.closing.is_set()

    def begin_shutdown(self) -> None:
        """End every stream now (clients reconnect elsewhere) so the drain is quick."""
        self.closing.set()
        self.hub.close_all("service stopping")
