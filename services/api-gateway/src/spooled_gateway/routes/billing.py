"""/billing: subscription status, the customer portal, and Stripe's webhook (API.md §11.4).

The webhook is public (Stripe calls it); its signature is verified by the
billing service against ``STRIPE_BILLING_WEBHOOK_SECRET`` (300 s tolerance)
and each event id is applied once. Bad signatures are 400; a replay is 200
with ``duplicate: true`` and changes nothing.

The portal: no Stripe API is reachable from a Spooled deployment, so
``POST /billing/portal`` returns the configured Stripe customer-portal link
(``STRIPE_PORTAL_URL`` on billing) and 503 ``SERVICE_UNAVAILABLE`` when none
is configured.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from spooled_common import errors, timefmt
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb

from spooled_gateway.auth import CurrentPrincipal
from spooled_gateway.orgs import plan_sync

router = APIRouter(prefix="/billing", tags=["billing"])

#: Stripe sends at most a few hundred KB; anything larger is not Stripe.
MAX_WEBHOOK_BYTES = 1024 * 1024


class PortalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    return_url: str = Field(default="", max_length=2048)


@router.get("/status")
async def billing_status(principal: CurrentPrincipal, request: Request) -> dict[str, Any]:
    """The organization's plan and Stripe subscription, as billing knows them."""
    plan = await request.app.state.billing.call(
        principal.org_id, "GetLimits", pb.GetLimitsRequest()
    )
    return {
        "plan_tier": plan.plan_tier,
        "stripe_subscription_id": plan_sync.optional(plan, "stripe_subscription_id"),
        "stripe_subscription_status": plan_sync.optional(plan, "stripe_subscription_status"),
        "stripe_current_period_end": timefmt.iso(
            timefmt.from_ts(plan, "stripe_current_period_end")
        ),
        "stripe_cancel_at_period_end": plan.stripe_cancel_at_period_end,
        "has_stripe_customer": plan.HasField("stripe_customer_id"),
    }


@router.post("/portal")
async def billing_portal(
    body: PortalRequest, principal: CurrentPrincipal, request: Request
) -> dict[str, str]:
    principal.require_unrestricted()
    session = await request.app.state.billing.call(
        principal.org_id, "CreatePortalSession", pb.PortalSessionRequest(return_url=body.return_url)
    )
    return {"url": session.url}


@router.post("/webhook")
async def stripe_webhook(request: Request) -> dict[str, Any]:
    """Stripe subscription events (public; authenticated by the Stripe signature)."""
    payload = await request.body()
    if len(payload) > MAX_WEBHOOK_BYTES:
        raise errors.PayloadTooLarge("Webhook body too large")
    out = await request.app.state.billing.call(
        None,
        "HandleStripeEvent",
        pb.StripeEventRequest(
            payload=payload, signature=request.headers.get("stripe-signature", "")
        ),
    )
    if out.HasField("org"):
        await plan_sync.apply(request.app.state.db, out.org)
    return {"received": True, "event_id": out.event_id, "duplicate": out.duplicate}
