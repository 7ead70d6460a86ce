"""The scheduler process: pool, queue-core client, gRPC, probes and the firing loop.

``start()`` brings them up in dependency order; ``stop()`` takes them down in
reverse: refuse new RPCs, finish the current firing round, resign the lease
(so another replica takes over at once), then release the pool. Tests drive
the same object, with a :class:`~spooled_scheduler.clock.ManualClock` and
ephemeral ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
from grpc_health.v1 import health
from spooled_common import probes
from spooled_common.db import create_pool

from spooled_scheduler.clock import Clock, SystemClock
from spooled_scheduler.firing.firer import Firer
from spooled_scheduler.firing.leader import LeaderLease
from spooled_scheduler.firing.loop import FiringLoop
from spooled_scheduler.grpc_server import SchedulerServicer, build_server
from spooled_scheduler.queue_core import QueueCoreClient, QueueCorePort
from spooled_scheduler.schedules.service import ScheduleService
from spooled_scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)

READY_TIMEOUT_SECS = 2.0
POOL_CLOSE_TIMEOUT_SECS = 10.0


def build_loop(
    pool: asyncpg.Pool, settings: SchedulerSettings, clock: Clock, core: QueueCorePort
) -> FiringLoop:
    """The lease, firer and loop of one replica (tests build several on one DB)."""
    lease = LeaderLease(
        pool, clock, settings.instance_id, timedelta(seconds=settings.lease_ttl_secs)
    )
    firer = Firer(
        pool,
        clock,
        core,
        lease,
        grace=timedelta(seconds=settings.misfire_grace_secs),
        batch_size=settings.batch_size,
    )
    return FiringLoop(lease, firer, clock, poll_interval=settings.poll_interval_secs)


class SchedulerApp:
    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        clock: Clock | None = None,
        core: QueueCorePort | None = None,
        run_loop: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        #: Injected queue-core (tests); by default a gRPC client to QUEUE_CORE_ADDR.
        self._core_override = core
        #: Off in tests that drive rounds by hand.
        self._run_loop = run_loop
        self.core: QueueCorePort | None = None
        self.pool: asyncpg.Pool | None = None
        self.schedules: ScheduleService | None = None
        self.loop: FiringLoop | None = None
        self.grpc: grpc.aio.Server | None = None
        self.health: health.HealthServicer | None = None
        self.http: probes.ProbeServer | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(
            s.database_url, min_size=s.database_min_connections, max_size=s.database_max_connections
        )
        self.core = self._core_override or QueueCoreClient(
            s.queue_core_addr, s.internal_token, timeout=s.enqueue_timeout_secs
        )
        self.loop = build_loop(self.pool, s, self.clock, self.core)
        self.schedules = ScheduleService(self.pool, self.clock, self.core, on_change=self.loop.wake)
        self.grpc, self.health = build_server(SchedulerServicer(self.schedules), s.internal_token)
        self.grpc_port = self.grpc.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        await self.grpc.start()
        self.http = probes.ProbeServer(probes.create_app(self.ready), s.http_host, s.http_port)
        self.http_port = await self.http.start()
        if self._run_loop:
            self.loop.start()
        log.info(
            "scheduler %s serving gRPC on :%d, HTTP on :%d",
            s.instance_id,
            self.grpc_port,
            self.http_port,
        )

    async def ready(self) -> dict[str, Any] | None:
        """Ready while not shutting down and the database answers."""
        if self._stopping or self.pool is None or self.loop is None:
            return None
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECS), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return None
        return {"leader": self.loop.lease.is_leader}

    async def stop(self) -> None:
        self._stopping = True
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.grpc is not None:
            await self.grpc.stop(self.settings.shutdown_grace_secs)
        if self.loop is not None:
            await self.loop.stop(self.settings.shutdown_grace_secs)
        if self.http is not None:
            await self.http.stop()
        if isinstance(self.core, QueueCoreClient) and self._core_override is None:
            await self.core.close()
        if self.pool is not None:
            await self._close_pool(self.pool)
        log.info("scheduler stopped")

    @staticmethod
    async def _close_pool(pool: asyncpg.Pool) -> None:
        try:
            await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_SECS)
        except TimeoutError:
            log.warning("pool did not close in time; terminating connections")
            with contextlib.suppress(Exception):
                pool.terminate()
