"""``/outgoing-webhooks``: org-level webhook endpoints, test sends, delivery history and
manual retries (API.md §10.1).

The webhooks service owns endpoints and deliveries; this module checks the
caller, validates request shapes, adds the plan cap and renders the upstream
JSON. Event names, URL rules (including the SSRF check) and formats are the
service's (400 ``VALIDATION_ERROR`` from there).

Endpoints see every queue's events, so every route needs an unrestricted key
(a queue-scoped key gets 403). Beyond upstream: ``format`` (the SDK's
json|slack|discord|teams), ``disabled_reason`` (``gone`` after a 410,
``failures`` after sustained failures) and, on deliveries, ``next_attempt_at``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import StringConstraints
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.orgs import plans
from spooled_gateway.orgs import service as orgs
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import webhooks as schemas

router = APIRouter(tags=["outgoing-webhooks"])


async def require_unrestricted(
    principal: Annotated[Principal, Depends(require_principal)],
) -> Principal:
    principal.require_unrestricted()
    return principal


Caller = Annotated[Principal, Depends(require_unrestricted)]

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Secret = Annotated[str, StringConstraints(max_length=255)]
Event = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Format = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class CreateWebhook(common.RequestModel):
    name: Name
    url: Url
    events: list[Event]
    #: Empty or absent: deliveries go out unsigned.
    secret: Secret | None = None
    enabled: bool = True
    format: Format | None = None


class UpdateWebhook(common.RequestModel):
    """Absent fields keep their value; ``"secret": null`` clears the secret."""

    name: Name | None = None
    url: Url | None = None
    events: list[Event] | None = None
    secret: Secret | None = None
    enabled: bool | None = None
    format: Format | None = None


# -- rendering -------------------------------------------------------------------


def webhook_json(w: pb.OutgoingWebhook) -> dict[str, Any]:
    return {
        "id": w.id,
        "organization_id": w.organization_id,
        "name": w.name,
        "url": w.url,
        "events": list(w.events),
        "format": w.format,
        "enabled": w.enabled,
        "failure_count": w.failure_count,
        "last_triggered_at": convert.ts(w, "last_triggered_at"),
        "last_status": convert.opt(w, "last_status"),
        "disabled_reason": convert.opt(w, "disabled_reason"),
        "created_at": convert.ts(w, "created_at"),
        "updated_at": convert.ts(w, "updated_at"),
    }


def delivery_json(d: pb.WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "payload": convert.doc(d.payload),
        "status": d.status,
        "status_code": convert.opt(d, "status_code"),
        "response_body": convert.opt(d, "response_body"),
        "error": convert.opt(d, "error"),
        "attempts": d.attempts,
        "created_at": convert.ts(d, "created_at"),
        "delivered_at": convert.ts(d, "delivered_at"),
        "next_attempt_at": convert.ts(d, "next_attempt_at"),
    }


# -- helpers -----------------------------------------------------------------------


async def _webhook_cap(request: Request, principal: Principal) -> int | None:
    """The org's cap on enabled endpoints (None: unlimited)."""
    org = await orgs.get_org(request.app.state.db, principal.org_id)
    return plans.limits_for(org["plan_tier"], org["custom_limits"]).max_webhooks


async def _call(request: Request, principal: Principal, method: str, message: Any) -> Any:
    """Call the webhooks service; its plan-cap error gains the plan and upgrade path."""
    try:
        return await request.app.state.webhooks.call(principal.tenant, method, message)
    except errors.QuotaExceeded as exc:
        if exc.extra.get("resource") != "webhooks":
            raise
        org = await orgs.get_org(request.app.state.db, principal.org_id)
        raise plans.quota_exceeded(
            "webhooks",
            int(exc.extra.get("current", 0)),
            int(exc.extra.get("limit", 0)),
            org["plan_tier"],
        ) from None


def _ref(webhook_id: str) -> pb.WebhookRef:
    return pb.WebhookRef(id=common.path_id(webhook_id))


# -- routes ------------------------------------------------------------------------


@router.get(
    "/outgoing-webhooks",
    responses=common.documented(list[schemas.OutgoingWebhook], "The org's endpoints"),
)
async def list_webhooks(request: Request, principal: Caller) -> Response:
    reply = await _call(request, principal, "ListWebhooks", pb.ListWebhooksRequest())
    return convert.json_response([webhook_json(w) for w in reply.webhooks])


@router.post(
    "/outgoing-webhooks",
    status_code=201,
    openapi_extra=common.openapi_body(CreateWebhook),
    responses=common.documented(schemas.OutgoingWebhook, "Created", 201),
)
async def create_webhook(request: Request, principal: Caller) -> Response:
    """Create an endpoint; 201 with the webhook (its secret is never returned)."""
    body = common.parse_body(CreateWebhook, await request.body())
    cap = await _webhook_cap(request, principal) if body.enabled else None
    message = pb.CreateWebhookRequest(
        name=body.name,
        url=body.url,
        events=body.events,
        secret=body.secret or None,
        enabled=body.enabled,
        format=body.format or "",
        max_webhooks=cap,
    )
    w = await _call(request, principal, "CreateWebhook", message)
    return convert.json_response(webhook_json(w), 201)


@router.get(
    "/outgoing-webhooks/{webhook_id}",
    responses=common.documented(schemas.OutgoingWebhook, "The endpoint"),
)
async def get_webhook(webhook_id: str, request: Request, principal: Caller) -> Response:
    w = await _call(request, principal, "GetWebhook", _ref(webhook_id))
    return convert.json_response(webhook_json(w))


@router.put(
    "/outgoing-webhooks/{webhook_id}",
    openapi_extra=common.openapi_body(UpdateWebhook),
    responses=common.documented(schemas.OutgoingWebhook, "The endpoint after the update"),
)
async def update_webhook(webhook_id: str, request: Request, principal: Caller) -> Response:
    """Change what is given; enabling a disabled endpoint counts against the plan cap."""
    body = common.parse_optional_body(UpdateWebhook, await request.body())
    clear = "secret" in body.model_fields_set and not body.secret
    cap = await _webhook_cap(request, principal) if body.enabled else None
    message = pb.UpdateWebhookRequest(
        id=common.path_id(webhook_id),
        name=body.name,
        url=body.url,
        events=body.events or [],
        set_events=body.events is not None,
        secret=None if clear else body.secret,
        clear_secret=clear,
        enabled=body.enabled,
        format=body.format,
        max_webhooks=cap,
    )
    w = await _call(request, principal, "UpdateWebhook", message)
    return convert.json_response(webhook_json(w))


@router.delete("/outgoing-webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, request: Request, principal: Caller) -> Response:
    """Delete the endpoint and its delivery history."""
    await _call(request, principal, "DeleteWebhook", _ref(webhook_id))
    return Response(status_code=204)


@router.post(
    "/outgoing-webhooks/{webhook_id}/test",
    responses=common.documented(schemas.WebhookTestResult, "How the test send went"),
)
async def test_webhook(webhook_id: str, request: Request, principal: Caller) -> Response:
    """Send a signed ``webhook.test`` event now: ``{success, status_code, response_time_ms, error}``."""
    r = await _call(request, principal, "TestWebhook", _ref(webhook_id))
    return convert.json_response(
        {
            "success": r.success,
            "status_code": convert.opt(r, "status_code"),
            "response_time_ms": r.response_time_ms,
            "error": convert.opt(r, "error"),
        }
    )


@router.get(
    "/outgoing-webhooks/{webhook_id}/deliveries",
    responses=common.documented(list[schemas.WebhookDelivery], "Deliveries, newest first"),
)
async def list_deliveries(
    webhook_id: str,
    request: Request,
    principal: Caller,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Response:
    """Newest first; ``status`` pending|success|failed; ``limit`` 1..100 (default 100)."""
    message = pb.ListWebhookDeliveriesRequest(
        webhook_id=common.path_id(webhook_id),
        status=status,
        limit=min(max(limit, 1), 100),
        offset=listing.page_offset(offset),
    )
    reply = await _call(request, principal, "ListWebhookDeliveries", message)
    return convert.json_response([delivery_json(d) for d in reply.deliveries])


@router.post(
    "/outgoing-webhooks/{webhook_id}/retry/{delivery_id}",
    responses=common.documented(schemas.DeliveryRetried, "The outcome of the resend"),
)
async def retry_delivery(
    webhook_id: str, delivery_id: str, request: Request, principal: Caller
) -> Response:
    """Send a stored delivery again now: ``{success, message}``."""
    message = pb.RetryWebhookDeliveryRequest(
        webhook_id=common.path_id(webhook_id), delivery_id=common.path_id(delivery_id)
    )
    r = await _call(request, principal, "RetryWebhookDelivery", message)
    return convert.json_response({"success": r.success, "message": r.message})
