"""Stripe subscription webhooks and the customer portal link.

``handle`` verifies the signature, then in ONE transaction records the event
id (dedup) and applies its effect, so a replayed or concurrently redelivered
event changes nothing, and an event whose processing failed leaves no trace
and is processed when Stripe retries it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import orjson
from spooled_common import errors
from spooled_common.db import maintenance_tx

from spooled_billing import metrics
from spooled_billing.db import QUERIES as Q
from spooled_billing.plans import repository as plan_repo
from spooled_billing.plans.models import OrgPlan
from spooled_billing.settings import BillingSettings
from spooled_billing.stripe import events, signature

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    event_type: str
    duplicate: bool
    #: applied | ignored | stale | unknown_org (for a duplicate: the first outcome)
    outcome: str
    #: The organization's plan afterwards, when the event concerns a known one.
    org: OrgPlan | None


class StripeService:
    def __init__(self, pool: asyncpg.Pool, settings: BillingSettings) -> None:
        self._pool = pool
        self._settings = settings

    async def handle(self, payload: bytes, header: str) -> Outcome:
        secret = self._settings.webhook_secret
        if not secret:
            raise errors.ServiceUnavailable(
                "Stripe webhooks are not configured (set STRIPE_BILLING_WEBHOOK_SECRET)"
            )
        try:
            signature.verify(
                payload, header, secret, tolerance_secs=self._settings.stripe_tolerance_secs
            )
        except signature.SignatureError:
            metrics.STRIPE_EVENTS.labels("bad_signature").inc()
            raise
        try:
            event = events.parse(orjson.loads(payload))
        except orjson.JSONDecodeError:
            raise errors.BadRequest("Stripe event is not valid JSON") from None
        async with maintenance_tx(self._pool) as conn:
            if await conn.fetchval(Q.claim_stripe_event, event.id, event.type, event.created):
                out = await self._apply(conn, event)
            else:
                out = await _replayed(conn, event)
        metrics.STRIPE_EVENTS.labels("duplicate" if out.duplicate else out.outcome).inc()
        log.info("stripe event %s (%s): %s", event.id, event.type, out.outcome)
        return out

    async def _apply(self, conn: asyncpg.Connection, event: events.Event) -> Outcome:
        change = events.interpret(event, self._settings.price_tiers())
        org_id: str | None = None
        if change is None:
            outcome = "ignored"
        else:
            org_id = change.org_hint or (
                await plan_repo.org_by_customer(conn, change.customer) if change.customer else None
            )
            if org_id is None:
                outcome = "unknown_org"
            else:
                applied = await plan_repo.apply_subscription(
                    conn,
                    org_id,
                    tier=change.tier,
                    customer=change.customer,
                    subscription=change.subscription,
                    status=change.status,
                    period_end=change.period_end,
                    cancel_at_period_end=change.cancel_at_period_end,
                    event_at=event.created,
                )
                outcome = "applied" if applied else "stale"
        await conn.execute(Q.finish_stripe_event, event.id, org_id, outcome)
        org = await plan_repo.get(conn, org_id) if org_id else None
        return Outcome(event.id, event.type, False, outcome, org)

    def portal_url(self, return_url: str) -> str:
        """The customer portal link (a configured Stripe no-code portal URL).

        Raises:
            errors.ValidationError: ``return_url`` is not an http(s) URL.
            errors.ServiceUnavailable: no portal is configured.
        """
        if return_url and urlsplit(return_url).scheme not in ("http", "https"):
            raise errors.ValidationError("return_url must be an http(s) URL")
        url = self._settings.stripe_portal_url
        if not url:
            raise errors.ServiceUnavailable(
                "The billing portal is not configured on this deployment (STRIPE_PORTAL_URL)"
            )
        return url


async def _replayed(conn: asyncpg.Connection, event: events.Event) -> Outcome:
    row = await conn.fetchrow(Q.stripe_event, event.id)
    org_id = row["organization_id"] if row else None
    org = await plan_repo.get(conn, org_id) if org_id else None
    return Outcome(event.id, event.type, True, row["outcome"] if row else "applied", org)
