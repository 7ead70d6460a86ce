"""Deliveries as the API sees them: an endpoint's history and manual retries."""

from __future__ import annotations

import asyncpg
from spooled_common import errors
from spooled_common.db import tenant_tx

from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.deliveries.dispatcher import Dispatcher
from spooled_webhooks.deliveries.outcomes import Claimed
from spooled_webhooks.endpoints.service import NOT_FOUND as WEBHOOK_NOT_FOUND

#: Upstream exposes the newest 100; the SDK pages with limit (1-100) and offset.
LIST_DEFAULT, LIST_MAX = 100, 100
STATUSES = ("pending", "success", "failed")


class DeliveryService:
    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher, claim_lease_secs: float) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self._lease = claim_lease_secs

    async def list_for(
        self, org_id: str, webhook_id: str, *, status: str | None, limit: int, offset: int
    ) -> list[asyncpg.Record]:
        if status is not None and status not in STATUSES:
            raise errors.ValidationError(f"status: must be one of {', '.join(STATUSES)}")
        limit = min(max(limit, 1), LIST_MAX) if limit else LIST_DEFAULT
        async with tenant_tx(self._pool, org_id) as conn:
            if await conn.fetchrow(Q.get_endpoint, webhook_id, org_id) is None:
                raise errors.NotFound(WEBHOOK_NOT_FOUND)
            return list(
                await conn.fetch(
                    Q.list_deliveries, webhook_id, org_id, status, limit, max(offset, 0)
                )
            )

    async def retry(self, org_id: str, webhook_id: str, delivery_id: str) -> tuple[bool, str]:
        """Send the stored delivery again now, to the endpoint's current URL.

        Returns (success, message). A failed attempt of a pending delivery keeps
        its retry schedule; a finished delivery is never reopened by it.
        """
        async with tenant_tx(self._pool, org_id) as conn:
            endpoint = await conn.fetchrow(Q.endpoint_for_delivery, webhook_id, org_id)
            if endpoint is None:
                raise errors.NotFound(WEBHOOK_NOT_FOUND)
            row = await conn.fetchrow(
                Q.claim_delivery_manual, delivery_id, webhook_id, org_id, self._lease
            )
            if row is None:
                if await conn.fetchval(Q.delivery_exists, delivery_id, webhook_id, org_id) is None:
                    raise errors.NotFound("Delivery not found")
                raise errors.Conflict("The delivery is being sent right now; try again shortly")
        claimed = Claimed.from_row(
            row,
            url=endpoint["url"],
            secret=endpoint["secret"],
            format=endpoint["format"],
            previous_status=None if row["status"] == "pending" else row["status"],
        )
        outcome = await self._dispatcher.deliver(claimed, manual=True)
        if outcome.success:
            return True, f"Delivered (HTTP {outcome.status_code}) on attempt {claimed.attempt}"
        return False, f"Delivery failed: {outcome.error}"
