"""The queue-core process: pool, wake-up listener, gRPC, probes and maintenance loops.

``start()`` brings them up in dependency order; ``stop()`` takes them down in
reverse, draining in-flight RPCs first. Tests drive the same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

import asyncpg
import grpc
from grpc_health.v1 import health
from spooled_common.db import create_pool

from spooled_queue_core import metrics, probes
from spooled_queue_core.dashboard.service import HEALTHY_HEARTBEATS, DashboardService
from spooled_queue_core.diagnose.service import DiagnoseService
from spooled_queue_core.dlq.service import DeadLetterService
from spooled_queue_core.grpc_server import QueueCoreServicer, Services, build_server
from spooled_queue_core.jobs.service import JobService
from spooled_queue_core.leases.service import LeaseService
from spooled_queue_core.maintenance.due_jobs import DueJobNotifier
from spooled_queue_core.maintenance.periodic import Periodic
from spooled_queue_core.maintenance.reaper import Reaper
from spooled_queue_core.maintenance.retention import JobRetention
from spooled_queue_core.outbox import OutboxRelay
from spooled_queue_core.queue_stats.metrics import QUEUE_STATS
from spooled_queue_core.queues.service import QueueService
from spooled_queue_core.quota import limits as quota_limits
from spooled_queue_core.quota.admission import Admission
from spooled_queue_core.quota.fairness import FairPool
from spooled_queue_core.settings import QueueCoreSettings
from spooled_queue_core.usage.service import UsageService
from spooled_queue_core.wakeup import Wakeup
from spooled_queue_core.workers.service import WorkerService
from spooled_queue_core.workflows.dependencies import DependencyService
from spooled_queue_core.workflows.service import WorkflowService

log = logging.getLogger(__name__)

READY_TIMEOUT_SECS = 2.0
POOL_CLOSE_TIMEOUT_SECS = 10.0


def build_admission(settings: QueueCoreSettings) -> Admission:
    """Plan-limit admission backed by billing (or unmetered when BILLING_ADDR is empty)."""
    return Admission(
        quota_limits.from_settings(
            settings.billing_addr, settings.internal_token, settings.limits_cache_secs
        )
    )


def build_services(
    pool: asyncpg.Pool,
    settings: QueueCoreSettings,
    wakeup: Wakeup,
    admission: Admission | None = None,
) -> Services:
    channel = wakeup.channel
    admission = admission or build_admission(settings)
    return Services(
        jobs=JobService(pool, settings, channel=channel, admission=admission),
        leases=LeaseService(pool, settings, wakeup),
        dlq=DeadLetterService(pool, channel, admission=admission),
        queues=QueueService(pool, settings, channel, admission=admission),
        workers=WorkerService(pool, settings, channel, admission=admission),
        usage=UsageService(pool),
        diagnose=DiagnoseService(pool, settings),
        dashboard=DashboardService(pool, settings),
        workflows=WorkflowService(pool, settings, channel=channel, admission=admission),
        dependencies=DependencyService(pool),
    )


class QueueCoreApp:
    def __init__(self, settings: QueueCoreSettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.wakeup: Wakeup | None = None
        self.services: Services | None = None
        self.admission: Admission | None = None
        self.grpc: grpc.aio.Server | None = None
        self.health: health.HealthServicer | None = None
        self.http: probes.ProbeServer | None = None
        self.loops: list[Periodic] = []
        self.grpc_port = 0
        self.http_port = 0
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(
            s.database_url, min_size=s.database_min_connections, max_size=s.database_max_connections
        )
        # Services see the pool through the per-organization fairness cap.
        fair = cast(asyncpg.Pool, FairPool(self.pool, s.connections_per_org))
        self.admission = admission = build_admission(s)
        self.wakeup = Wakeup(s.database_url)
        await self.wakeup.start()
        self.services = build_services(fair, s, self.wakeup, self.admission)
        self.grpc, self.health = build_server(QueueCoreServicer(self.services), s.internal_token)
        self.grpc_port = self.grpc.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        await self.grpc.start()
        metrics.QUEUE_LABEL.configure(s.metrics_max_queues)
        QUEUE_STATS.bind(
            self.pool,
            limit=s.metrics_max_queues,
            cache_secs=s.metrics_cache_secs,
            healthy_secs=s.heartbeat_interval_secs * HEALTHY_HEARTBEATS,
        )
        self.http = probes.ProbeServer(
            probes.create_app(self.ready, QUEUE_STATS.refresh), s.http_host, s.http_port
        )
        self.http_port = await self.http.start()
        self.loops = [
            Periodic(
                "lease-reaper",
                s.reaper_interval_secs,
                Reaper(self.pool, s, self.wakeup.channel).run_once,
            ),
            Periodic(
                "due-jobs",
                s.due_scan_interval_secs,
                DueJobNotifier(self.pool, self.wakeup.channel).run_once,
            ),
            Periodic(
                "job-retention",
                s.retention_interval_secs,
                JobRetention(self.pool, admission).run_once,
            ),
        ]
        for loop in self.loops:
            loop.start()
        self.relay = await OutboxRelay.from_env(s.database_url, self.wakeup.channel).start()
        log.info("queue-core serving gRPC on :%d, HTTP on :%d", self.grpc_port, self.http_port)

    async def ready(self) -> bool:
        """Ready while not shutting down, listening for wake-ups, and the DB answers."""
        if self._stopping or self.pool is None or self.wakeup is None or not self.wakeup.connected:
            return False
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECS), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def stop(self) -> None:
        """Graceful: refuse new RPCs, let in-flight ones finish, then release everything."""
        self._stopping = True
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.wakeup is not None:
            # Waiting claims answer (empty) now instead of holding the drain open.
            self.wakeup.closing = True
            self.wakeup.wake_all()
        if self.grpc is not None:
            await self.grpc.stop(self.settings.shutdown_grace_secs)
        for loop in self.loops:
            await loop.stop()
        if (relay := getattr(self, "relay", None)) is not None:
            await relay.stop()
        if self.http is not None:
            await self.http.stop()
        if self.admission is not None:
            await self.admission.source.close()
        if self.wakeup is not None:
            await self.wakeup.stop()
        if self.pool is not None:
            QUEUE_STATS.unbind(self.pool)
            await self._close_pool(self.pool)
        log.info("queue-core stopped")

    @staticmethod
    async def _close_pool(pool: asyncpg.Pool) -> None:
        try:
            await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_SECS)
        except TimeoutError:
            log.warning("pool did not close in time; terminating connections")
            with contextlib.suppress(Exception):
                pool.terminate()
