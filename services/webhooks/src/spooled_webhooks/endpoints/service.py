"""Endpoint service: CRUD, the plan cap on enabled endpoints, and test sends.

The service owns the transaction (``tenant_tx``: RLS on, one org). A URL is
checked when it is stored (scheme, and where it resolves: a name that points
at a private address is refused at once) and again at every delivery, since
DNS can change in between.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
from spooled_common import errors, timefmt
from spooled_common.db import tenant_tx

from spooled_webhooks.db import QUERIES as Q
from spooled_webhooks.endpoints.models import EndpointFields
from spooled_webhooks.sending import formats, signing
from spooled_webhooks.sending.sender import Outcome, Sender
from spooled_webhooks.sending.ssrf import Refused, ResolutionFailed

NOT_FOUND = "Webhook not found"
TEST_EVENT = "webhook.test"


def quota_exceeded(current: int, limit: int) -> errors.QuotaExceeded:
    """The plan-cap error; the gateway adds ``plan`` and ``upgrade_to``."""
    return errors.QuotaExceeded(
        f"webhooks limit reached ({current}/{limit}).",
        extra={
            "error": "limit_exceeded",
            "resource": "webhooks",
            "current": current,
            "limit": limit,
        },
    )


def test_body(webhook_id: str, org_id: str) -> bytes:
    return orjson.dumps(
        {
            "event": TEST_EVENT,
            "webhook_id": webhook_id,
            "organization_id": org_id,
            "timestamp": timefmt.iso(timefmt.now()),
            "test": True,
            "message": "This is a test webhook from Spooled",
        }
    )


class EndpointService:
    def __init__(self, pool: asyncpg.Pool, sender: Sender) -> None:
        self._pool = pool
        self._sender = sender

    async def create(
        self, org_id: str, fields: EndpointFields, max_enabled: int | None = None
    ) -> asyncpg.Record:
        """Validate and store; nothing is stored when anything is invalid."""
        fields = fields.validated()
        await self._check_url(fields.url)
        async with tenant_tx(self._pool, org_id) as conn:
            if fields.enabled:
                await self._check_cap(conn, org_id, max_enabled)
            return await conn.fetchrow(
                Q.insert_endpoint,
                org_id,
                fields.name,
                fields.url,
                fields.secret,
                list(fields.events),
                fields.format,
                fields.enabled,
            )

    async def list_all(self, org_id: str) -> list[asyncpg.Record]:
        async with tenant_tx(self._pool, org_id) as conn:
            return list(await conn.fetch(Q.list_endpoints, org_id))

    async def get(self, org_id: str, webhook_id: str) -> asyncpg.Record:
        async with tenant_tx(self._pool, org_id) as conn:
            row = await conn.fetchrow(Q.get_endpoint, webhook_id, org_id)
        if row is None:
            raise errors.NotFound(NOT_FOUND)
        return row

    async def update(
        self,
        org_id: str,
        webhook_id: str,
        changes: Mapping[str, Any],
        max_enabled: int | None = None,
    ) -> asyncpg.Record:
        """Apply ``changes`` (absent = keep; ``secret: None`` clears the secret).

        Enabling a disabled endpoint counts against the plan cap and clears its
        failure count and disable reason.
        """
        async with tenant_tx(self._pool, org_id) as conn:
            row = await conn.fetchrow(Q.get_endpoint_for_update, webhook_id, org_id)
            if row is None:
                raise errors.NotFound(NOT_FOUND)
            fields = EndpointFields.from_row(row).merged(changes).validated()
            if fields.url != row["url"]:
                await self._check_url(fields.url)
            if fields.enabled and not row["enabled"]:
                await self._check_cap(conn, org_id, max_enabled)
            return await conn.fetchrow(
                Q.update_endpoint,
                webhook_id,
                org_id,
                fields.name,
                fields.url,
                fields.secret,
                list(fields.events),
                fields.format,
                fields.enabled,
            )

    async def delete(self, org_id: str, webhook_id: str) -> None:
        async with tenant_tx(self._pool, org_id) as conn:
            if await conn.fetchval(Q.delete_endpoint, webhook_id, org_id) is None:
                raise errors.NotFound(NOT_FOUND)

    async def test(self, org_id: str, webhook_id: str) -> Outcome:
        """Send a ``webhook.test`` event now (signed, not stored, not retried)."""
        row = await self.get(org_id, webhook_id)
        payload = test_body(webhook_id, org_id)
        body = formats.render(row["format"], payload.decode())
        headers = signing.headers(
            event=TEST_EVENT,
            delivery_id=str(uuid.uuid4()),
            attempt=1,
            secret=row["secret"],
            body=body,
            timestamp=int(time.time()),
        )
        return await self._sender.post(row["url"], body, headers)

    # -- helpers -----------------------------------------------------------------
    async def _check_url(self, url: str) -> None:
        try:
            await self._sender.guard.check(url)
        except Refused as exc:
            raise errors.ValidationError(f"url: {exc}") from None
        except ResolutionFailed:
            # Maybe not in DNS yet: every delivery checks again before connecting.
            pass

    @staticmethod
    async def _check_cap(conn: asyncpg.Connection, org_id: str, limit: int | None) -> None:
        if limit is None:
            return
        await conn.execute(Q.lock_org_endpoints, org_id)
        current = int(await conn.fetchval(Q.count_enabled_endpoints, org_id))
        if current + 1 > limit:
            raise quota_exceeded(current, limit)
