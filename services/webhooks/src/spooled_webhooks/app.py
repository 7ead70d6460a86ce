"""The webhooks process: pool, sender, dispatcher, event consumer, gRPC and probes.

``start()`` brings them up in dependency order; ``stop()`` takes them down in
reverse: refuse new RPCs, stop consuming events, give attempts in flight the
grace period (the rest are claimed again after their lease), then release
the pool. Tests drive the same object on ephemeral ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

import asyncpg
import grpc
from grpc_health.v1 import health
from spooled_common import probes
from spooled_common.db import create_pool

from spooled_webhooks.deliveries.dispatcher import Dispatcher
from spooled_webhooks.deliveries.fanout import fan_out
from spooled_webhooks.deliveries.outcomes import RetryPolicy
from spooled_webhooks.deliveries.retention import RetentionLoop
from spooled_webhooks.deliveries.service import DeliveryService
from spooled_webhooks.endpoints.service import EndpointService
from spooled_webhooks.events.consumer import EventConsumer
from spooled_webhooks.events.outbox import OutboxPublisher
from spooled_webhooks.grpc_server import WebhooksServicer, build_server
from spooled_webhooks.inbound.service import InboundService
from spooled_webhooks.queue_core import QueueCoreClient, QueueCorePort
from spooled_webhooks.sending.sender import Sender
from spooled_webhooks.sending.ssrf import AllowList, DestinationGuard, Resolver, system_resolver
from spooled_webhooks.settings import WebhooksSettings

log = logging.getLogger(__name__)

READY_TIMEOUT_SECS = 2.0
POOL_CLOSE_TIMEOUT_SECS = 10.0


def build_sender(settings: WebhooksSettings, resolver: Resolver = system_resolver) -> Sender:
    guard = DestinationGuard(
        AllowList.parse(settings.allowed_hosts),
        require_https=settings.is_production,
        resolver=resolver,
    )
    return Sender(
        guard,
        timeout_secs=settings.request_timeout_secs,
        connect_timeout_secs=settings.connect_timeout_secs,
        max_connections=settings.max_concurrent,
    )


def retry_policy(settings: WebhooksSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        base_secs=settings.retry_base_secs,
        max_secs=settings.retry_max_secs,
        auto_disable_after=settings.auto_disable_after,
    )


class WebhooksApp:
    def __init__(
        self,
        settings: WebhooksSettings,
        *,
        core: QueueCorePort | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.settings = settings
        #: Injected queue-core (tests); by default a gRPC client to QUEUE_CORE_ADDR.
        self._core_override = core
        self._resolver = resolver
        self.core: QueueCorePort | None = None
        self.pool: asyncpg.Pool | None = None
        self.sender: Sender | None = None
        self.dispatcher: Dispatcher | None = None
        self.consumer: EventConsumer | None = None
        self.outbox: OutboxPublisher | None = None
        self.retention: RetentionLoop | None = None
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
        self.sender = build_sender(s, self._resolver)
        self.dispatcher = Dispatcher(
            self.pool,
            self.sender,
            retry_policy(s),
            max_concurrent=s.max_concurrent,
            claim_lease_secs=s.claim_lease_secs,
            poll_interval_secs=s.poll_interval_secs,
        )
        servicer = WebhooksServicer(
            EndpointService(self.pool, self.sender),
            DeliveryService(self.pool, self.dispatcher, s.claim_lease_secs),
            InboundService(self.pool, self.core, stripe_tolerance_secs=s.stripe_tolerance_secs),
        )
        self.grpc, self.health = build_server(servicer, s.internal_token)
        self.grpc_port = self.grpc.add_insecure_port(f"{s.grpc_host}:{s.grpc_port}")
        await self.grpc.start()
        self.http = probes.ProbeServer(probes.create_app(self.ready), s.http_host, s.http_port)
        self.http_port = await self.http.start()
        self.dispatcher.start()
        if s.nats_url:
            self._start_consumer()
        else:
            log.warning("NATS_URL is not set: no events are consumed, so none are delivered")
        self.retention = RetentionLoop(self.pool, s.retention_days * 86400, s.cleanup_interval_secs)
        self.retention.start()
        log.info("webhooks serving gRPC on :%d, HTTP on :%d", self.grpc_port, self.http_port)

    def _start_consumer(self) -> None:
        s = self.settings
        assert self.pool is not None and self.dispatcher is not None
        self.consumer = EventConsumer(
            s.nats_url,
            functools.partial(fan_out, self.pool),
            consumer_name=s.consumer_name,
            deliver_policy=s.deliver_policy,
            batch=s.fetch_batch,
            ack_wait_secs=s.ack_wait_secs,
            on_rows=self.dispatcher.wake,
        )
        self.consumer.start()
        self.outbox = OutboxPublisher(
            self.pool, self.consumer.jetstream, interval_secs=s.poll_interval_secs
        )
        self.outbox.start()

    async def ready(self) -> dict[str, Any] | None:
        """Ready while not shutting down and the database answers.

        NATS is reported, not required: while it is away the API still works and
        events wait in the stream (or in queue-core's outbox).
        """
        if self._stopping or self.pool is None:
            return None
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECS), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception:
            return None
        return {"nats": None if self.consumer is None else self.consumer.connected}

    async def stop(self) -> None:
        s = self.settings
        self._stopping = True
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.grpc is not None:
            await self.grpc.stop(s.shutdown_grace_secs)
        for part in (self.consumer, self.outbox, self.retention):
            if part is not None:
                await part.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop(s.shutdown_grace_secs)
        if self.http is not None:
            await self.http.stop()
        if self.sender is not None:
            await self.sender.aclose()
        if self.core is not None and self._core_override is None:
            await self.core.close()
        if self.pool is not None:
            await self._close_pool(self.pool)
        log.info("webhooks stopped")

    @staticmethod
    async def _close_pool(pool: asyncpg.Pool) -> None:
        try:
            await asyncio.wait_for(pool.close(), POOL_CLOSE_TIMEOUT_SECS)
        except TimeoutError:
            log.warning("pool did not close in time; terminating connections")
            with contextlib.suppress(Exception):
                pool.terminate()
