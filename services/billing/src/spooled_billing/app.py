"""The billing process: pool, gRPC, probes and the retention sweep.

``start()`` brings them up in dependency order; ``stop()`` takes them down in
reverse, draining in-flight RPCs first. Tests drive the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import grpc
from grpc_health.v1 import health
from spooled_common import probes
from spooled_common.db import create_pool

from spooled_billing.grpc_server import BillingServicer, Services, build_server
from spooled_billing.plans.service import PlanService
from spooled_billing.settings import BillingSettings
from spooled_billing.stripe.service import StripeService
from spooled_billing.usage.service import UsageService

log = logging.getLogger(__name__)

READY_TIMEOUT_SECS = 2.0
POOL_CLOSE_TIMEOUT_SECS = 10.0


def build_services(pool: asyncpg.Pool, settings: BillingSettings) -> Services:
    return Services(
        plans=PlanService(pool),
        usage=UsageService(pool),
        stripe=StripeService(pool, settings),
    )


class BillingApp:
    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.services: Services | None = None
        self.grpc: grpc.aio.Server | None = None
        self.health: health.HealthServicer | None = None
        self.http: probes.ProbeServer | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(
            s.database_url, min_size=s.database_min_connections, max_size=s.database_max_connections
        )
        self.services = build_services(self.pool, s)
        self.grpc, self.health = build_server(BillingServicer(self.services), s.internal_token)
        self.grpc_port = self.grpc.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        await self.grpc.start()
        self.http = probes.ProbeServer(probes.create_app(self.ready), s.http_host, s.http_port)
        self.http_port = await self.http.start()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="billing-sweep")
        log.info("billing serving gRPC on :%d, HTTP on :%d", self.grpc_port, self.http_port)

    async def _sweep_loop(self) -> None:
        assert self.services is not None
        while not self._stopping:
            try:
                await self.services.usage.sweep(self.settings.usage_retention_days)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("billing retention sweep failed; retrying next interval")
            await asyncio.sleep(self.settings.sweep_interval_secs)

    async def ready(self) -> dict[str, Any] | None:
        """Ready while not shutting down and the database answers."""
        if self._stopping or self.pool is None:
            return None
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECS), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return None
        return {"stripe_webhooks": bool(self.settings.webhook_secret)}

    async def stop(self) -> None:
        """Graceful: refuse new RPCs, let in-flight ones finish, then release everything."""
        self._stopping = True
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.grpc is not None:
            await self.grpc.stop(self.settings.shutdown_grace_secs)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.http is not None:
            await self.http.stop()
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), POOL_CLOSE_TIMEOUT_SECS)
            except TimeoutError:
                log.warning("pool did not close in time; terminating connections")
                with contextlib.suppress(Exception):
                    self.pool.terminate()
        log.info("billing stopped")
