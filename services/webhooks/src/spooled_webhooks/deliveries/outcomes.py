"""What one attempt's outcome does to its delivery and endpoint (one transaction).

=====================  ===============================  ===============================
outcome                delivery                         endpoint
=====================  ===============================  ===============================
2xx                    success                          failure_count 0, last_status success
410 Gone               failed                           disabled (reason gone) + event
refused (SSRF)         failed                           one more failed delivery
other, attempts left   pending, due after the backoff   last_status failed
other, none left       failed                           one more failed delivery; at N
                                                        consecutive: disabled + event
=====================  ===============================  ===============================

"Disabled + event" writes a ``webhook.disabled`` row to this service's outbox in
the same transaction; :mod:`spooled_webhooks.events.outbox` publishes it.
A manual retry of a delivery that had already finished never reopens it, and
its failures do not count towards auto-disable (a 410 still disables).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from spooled_common.db import maintenance_tx

from spooled_webhooks import metrics
from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.sending.backoff import next_delay
from spooled_webhooks.sending.sender import Outcome

log = logging.getLogger(__name__)

#: Event type of this service's own "endpoint disabled" notification.
DISABLED_EVENT = "webhook.disabled"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_secs: float
    max_secs: float
    auto_disable_after: int


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken for one attempt, with its target resolved."""

    id: str
    org_id: str
    webhook_id: str | None
    event: str
    payload: str
    #: This attempt's number (1-based; the claim already counted it).
    attempt: int
    url: str
    secret: str | None
    format: str = "json"
    #: Status before a manual retry (None for the dispatcher's own attempts).
    previous_status: str | None = None
    job_id: str | None = None
    #: The trace this delivery continues (its event's; None while tracing is off).
    traceparent: str | None = None

    @classmethod
    def from_row(cls, row: Any, **overrides: Any) -> Claimed:
        values = {
            "id": row["id"],
            "org_id": row["organization_id"],
            "webhook_id": row["webhook_id"],
            "event": row["event"],
            "payload": row["payload"],
            "attempt": row["attempts"],
            "url": row.get("url"),
            "secret": row.get("secret"),
            "format": row.get("format") or "json",
            "job_id": row.get("job_id"),
            "traceparent": row.get("traceparent"),
        }
        values.update(overrides)
        return cls(**values)


async def record(
    pool: asyncpg.Pool, c: Claimed, outcome: Outcome, policy: RetryPolicy, *, manual: bool = False
) -> str:
    """Store the attempt and apply its consequences; returns the delivery's new status
    (``deleted`` when its endpoint, and so the delivery, was deleted meanwhile)."""
    event = metrics.event_label(c.event)
    metrics.DELIVERIES.labels("delivered" if outcome.success else "failed", event).inc()
    metrics.DELIVERY_SECONDS.labels(event).observe(outcome.duration_secs)
    async with maintenance_tx(pool) as conn:
        # Lock order: endpoint before delivery, as an endpoint's DELETE does (guarded
        # by tests/integration/test_webhooks_delivery.py::TestDurability).
        if c.webhook_id is not None and not await conn.fetchval(
            Q.lock_endpoint_for_outcome, c.webhook_id, c.org_id
        ):
            return "deleted"
        await conn.execute(
            Q.insert_attempt,
            c.org_id,
            c.id,
            c.attempt,
            outcome.status_code,
            outcome.error,
            outcome.response_body,
            outcome.duration_ms,
            manual,
        )
        return await _apply(conn, c, outcome, policy)


async def _apply(conn: asyncpg.Connection, c: Claimed, o: Outcome, policy: RetryPolicy) -> str:
    result = (c.id, c.org_id, o.status_code, o.response_body)
    if o.success:
        await conn.execute(Q.delivery_succeeded, *result)
        if c.webhook_id:
            await conn.execute(Q.endpoint_succeeded, c.webhook_id, c.org_id)
        return "success"
    if c.previous_status == "success":
        # A manual re-send of a delivered event failed: it stays delivered
        # (but a 410 still disables the endpoint).
        if o.gone and c.webhook_id:
            await _endpoint_failed(conn, c, o, policy)
        return "success"
    terminal = o.gone or o.refused
    if not terminal and c.previous_status == "failed":
        # A manual re-send of a failed delivery failed again: it stays failed,
        # and an operator's retries do not count towards auto-disable.
        await conn.execute(Q.delivery_failed, *result, o.error)
        if c.webhook_id:
            await conn.execute(Q.endpoint_attempt_failed, c.webhook_id, c.org_id)
        return "failed"
    if not terminal and c.attempt < policy.max_attempts:
        delay = next_delay(c.attempt, o.retry_after, base=policy.base_secs, cap=policy.max_secs)
        await conn.execute(Q.delivery_retry, *result, o.error, delay)
        if c.webhook_id:
            await conn.execute(Q.endpoint_attempt_failed, c.webhook_id, c.org_id)
        return "pending"
    await conn.execute(Q.delivery_failed, *result, o.error)
    if c.webhook_id:
        await _endpoint_failed(conn, c, o, policy)
    return "failed"


async def _endpoint_failed(
    conn: asyncpg.Connection, c: Claimed, o: Outcome, policy: RetryPolicy
) -> None:
    if o.gone:
        row = await conn.fetchrow(Q.endpoint_gone, c.webhook_id, c.org_id)
        reason = "gone"
    else:
        row = await conn.fetchrow(
            Q.endpoint_delivery_failed, c.webhook_id, c.org_id, policy.auto_disable_after
        )
        reason = "failures"
    if row is None or not row["disabled"]:
        return
    metrics.ENDPOINTS_DISABLED.labels(reason).inc()
    log.warning(
        "webhook %s of org %s disabled (%s; %d consecutive failed deliveries)",
        c.webhook_id,
        c.org_id,
        "the receiver answered 410 Gone" if reason == "gone" else "sustained failures",
        row["failure_count"],
    )
    await conn.execute(
        Q.outbox_insert,
        c.org_id,
        DISABLED_EVENT,
        {
            "webhook_id": row["id"],
            "name": row["name"],
            "url": row["url"],
            "reason": reason,
            "failure_count": row["failure_count"],
            "status_code": o.status_code,
            "error": o.error,
        },
    )
