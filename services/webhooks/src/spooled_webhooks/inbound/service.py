"""Incoming webhooks: verify, enqueue through queue-core, log; and the log itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx

from spooled_webhooks import metrics
from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.inbound import jobs, verify
from spooled_webhooks.queue_core import QueueCorePort

#: Inbound log list: default and maximum page size (SDK: limit 1-100).
LIST_DEFAULT, LIST_MAX = 50, 100


@dataclass(frozen=True, slots=True)
class Ingested:
    job_id: str
    queue_name: str
    #: created (a new job) | duplicate (the idempotency key matched an existing job)
    status: str


class InboundService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        core: QueueCorePort,
        *,
        stripe_tolerance_secs: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._core = core
        self._tolerance = stripe_tolerance_secs
        self._clock = clock

    async def ingest(
        self,
        org_id: str,
        provider: str,
        body: bytes,
        headers: Mapping[str, str],
        credential: str,
        max_payload_bytes: int,
    ) -> Ingested:
        """Verify first (401 before any parsing), then one job and one log row."""
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            verify.verify(
                provider,
                credential,
                body,
                lowered,
                now=self._clock(),
                stripe_tolerance=self._tolerance,
            )
        except errors.Unauthorized:
            metrics.INBOUND.labels(provider, "rejected").inc()
            raise
        job = jobs.job_for(provider, body, lowered, max_payload_bytes)
        job_id, created = await self._core.create_job(org_id, job)
        status = "created" if created else "duplicate"
        async with tenant_tx(self._pool, org_id) as conn:
            await conn.execute(
                Q.insert_inbound,
                org_id,
                provider,
                job.event_type,
                job.provider_event_id,
                job.queue_name,
                job_id,
                status,
            )
        metrics.INBOUND.labels(provider, status).inc()
        return Ingested(job_id, job.queue_name, status)

    async def list_log(
        self,
        org_id: str,
        *,
        status: str | None,
        since: datetime | None,
        queue_name: str | None,
        limit: int,
        offset: int,
    ) -> list[asyncpg.Record]:
        if status is not None and status not in ("created", "duplicate"):
            raise errors.ValidationError("status: must be 'created' or 'duplicate'")
        limit = min(max(limit, 1), LIST_MAX) if limit else LIST_DEFAULT
        async with tenant_tx(self._pool, org_id) as conn:
            return list(
                await conn.fetch(
                    Q.list_inbound, org_id, status, since, queue_name, limit, max(offset, 0)
                )
            )
