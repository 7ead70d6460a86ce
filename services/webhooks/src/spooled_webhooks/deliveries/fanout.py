"""From stream events to delivery rows: match endpoints, build bodies, insert once.

One transaction per batch of events: the caller acknowledges the messages only
after it commits, so an event is either fully fanned out or redelivered (and
then derives the same ids: nothing is inserted twice).

An endpoint receives an event when it is enabled, subscribes to one of the
event's types (``StreamEvent.names``) and already existed when the event
happened: catching up after an outage must not send an endpoint history from
before it was created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from spooled_common.db import maintenance_tx

from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.deliveries.ids import COMPLETION, delivery_id
from spooled_webhooks.events.wire import StreamEvent


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    org_id: str
    webhook_id: str | None
    event: str
    event_key: str
    job_id: str | None
    url: str | None
    secret: str | None
    payload: str
    traceparent: str | None


def envelope(delivery: str, event: str, created_at: str, data: Any) -> str:
    """The JSON body of an endpoint delivery (API.md §10.1)."""
    return orjson.dumps(
        {"id": delivery, "event": event, "created_at": created_at, "data": data}
    ).decode()


def _parse_ts(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def plan_rows(events: Sequence[StreamEvent], endpoints: Sequence[asyncpg.Record]) -> list[_Row]:
    """The delivery rows a batch of events calls for (pure: no I/O)."""
    by_org: dict[str, list[asyncpg.Record]] = {}
    for ep in endpoints:
        by_org.setdefault(ep["organization_id"], []).append(ep)
    rows: list[_Row] = []
    for ev in events:
        job_id = ev.data.get("job_id") if ev.name.startswith("job.") else None
        job_id = job_id if isinstance(job_id, str) else None
        happened = _parse_ts(ev.created_at)
        for ep in by_org.get(ev.org_id, ()):
            if happened is not None and happened < ep["created_at"]:
                continue
            for name in ev.names:
                if name in ep["events"]:
                    did = delivery_id(ep["id"], ev.key, name)
                    body = envelope(did, name, ev.created_at, ev.public_data())
                    rows.append(
                        _Row(
                            did,
                            ev.org_id,
                            ep["id"],
                            name,
                            ev.key,
                            job_id,
                            None,
                            None,
                            body,
                            ev.traceparent,
                        )
                    )
        target = ev.completion()
        if target is not None:
            did = delivery_id(COMPLETION, ev.key, target.event)
            body = orjson.dumps(target.body).decode()
            rows.append(
                _Row(
                    did,
                    ev.org_id,
                    None,
                    target.event,
                    ev.key,
                    job_id,
                    target.url,
                    target.secret,
                    body,
                    ev.traceparent,
                )
            )
    # A message JetStream redelivered inside one batch yields the same ids twice.
    return list({r.id: r for r in rows}.values())


async def fan_out(pool: asyncpg.Pool, events: Sequence[StreamEvent]) -> int:
    """Insert the deliveries of ``events``; returns how many rows are new."""
    if not events:
        return 0
    orgs = sorted({ev.org_id for ev in events})
    # Cross-tenant by nature (a batch holds many orgs' events); every row names its org.
    async with maintenance_tx(pool) as conn:
        endpoints = await conn.fetch(Q.enabled_endpoints_for_orgs, orgs)
        rows = plan_rows(events, endpoints)
        if not rows:
            return 0
        inserted = await conn.fetch(
            Q.insert_deliveries,
            [r.id for r in rows],
            [r.org_id for r in rows],
            [r.webhook_id for r in rows],
            [r.event for r in rows],
            [r.event_key for r in rows],
            [r.job_id for r in rows],
            [r.url for r in rows],
            [r.secret for r in rows],
            [r.payload for r in rows],
            [r.traceparent for r in rows],
        )
    return len(inserted)
