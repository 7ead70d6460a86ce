"""What a Stripe event means for an organization's plan (pure: no I/O).

Handled (everything else is acknowledged and ignored):

* ``checkout.session.completed`` links the Stripe customer (and subscription)
  to the organization named by ``client_reference_id`` or
  ``metadata.organization_id``;
* ``customer.subscription.created|updated`` sets the tier from the price
  (``plan_tier`` metadata on the subscription or price, the price's lookup key,
  or a configured ``STRIPE_PRICE_<TIER>`` id) while the status is active or
  trialing; ``canceled``/``unpaid``/``incomplete_expired``/``paused`` drop to
  free; ``past_due`` and ``incomplete`` keep the current tier (grace);
* ``customer.subscription.deleted`` drops to free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spooled_common import errors, plans

_PAID_STATUSES = {"active", "trialing"}
_ENDED_STATUSES = {"canceled", "unpaid", "incomplete_expired", "paused"}
SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
CHECKOUT_COMPLETED = "checkout.session.completed"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    created: datetime | None
    object: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PlanChange:
    """What to record for one organization; None fields stay as they are."""

    #: The organization named by the event itself (else found by customer id).
    org_hint: str | None
    customer: str | None
    subscription: str | None = None
    status: str | None = None
    #: None = unchanged.
    tier: str | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool | None = None


def parse(doc: Any) -> Event:
    """The envelope of a Stripe event; 400 when it is not one."""
    if not isinstance(doc, Mapping):
        raise errors.BadRequest("Stripe event must be a JSON object")
    event_id, kind = doc.get("id"), doc.get("type")
    data = doc.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
        raise errors.BadRequest("Stripe event lacks id or type")
    if not isinstance(obj, Mapping):
        raise errors.BadRequest("Stripe event lacks data.object")
    return Event(event_id, kind, _time(doc.get("created")), obj)


def interpret(event: Event, price_tiers: Mapping[str, str]) -> PlanChange | None:
    """The plan change an event asks for, or None when it is not about plans."""
    obj = event.object
    if event.type == CHECKOUT_COMPLETED:
        meta = _meta(obj)
        return PlanChange(
            org_hint=_text(obj.get("client_reference_id")) or _text(meta.get("organization_id")),
            customer=_text(obj.get("customer")),
            subscription=_text(obj.get("subscription")),
            tier=_tier(meta.get("plan_tier")),
        )
    if event.type not in SUBSCRIPTION_EVENTS:
        return None
    status = _text(obj.get("status"))
    tier: str | None
    if event.type == "customer.subscription.deleted":
        status, tier = status or "canceled", "free"
    elif status in _PAID_STATUSES:
        tier = subscription_tier(obj, price_tiers)
    elif status in _ENDED_STATUSES:
        tier = "free"
    else:
        tier = None
    return PlanChange(
        org_hint=_text(_meta(obj).get("organization_id")),
        customer=_text(obj.get("customer")),
        subscription=_text(obj.get("id")),
        status=status,
        tier=tier,
        period_end=_time(obj.get("current_period_end") or _item_period_end(obj)),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end", False)),
    )


def subscription_tier(sub: Mapping[str, Any], price_tiers: Mapping[str, str]) -> str | None:
    """The tier a subscription pays for, or None when no price says."""
    if tier := _tier(_meta(sub).get("plan_tier")):
        return tier
    for price in _prices(sub):
        found = (
            _tier(_meta(price).get("plan_tier"))
            or _tier(price.get("lookup_key"))
            or price_tiers.get(str(price.get("id", "")))
        )
        if found:
            return found
    return None


def _prices(sub: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = sub.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    out = []
    for item in data if isinstance(data, list) else []:
        price = item.get("price") if isinstance(item, Mapping) else None
        if isinstance(price, Mapping):
            out.append(price)
    return out


def _item_period_end(sub: Mapping[str, Any]) -> Any:
    # Newer API versions moved current_period_end onto the subscription items.
    items = sub.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return data[0].get("current_period_end")
    return None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _tier(value: Any) -> str | None:
    return value if isinstance(value, str) and value in plans.TIERS else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None
