"""Incoming webhooks (API.md §10.2): ingestion, the inbound log, provider secrets.

* ``POST /webhooks/{org_id}/custom`` with ``X-Webhook-Token`` (the org's token,
  ``/organizations/webhook-token``); ``POST /webhooks/{org_id}/github`` with
  ``X-Hub-Signature-256``; ``POST /webhooks/{org_id}/stripe`` with
  ``Stripe-Signature`` (300 s tolerance). Public routes: the signature is the
  authentication. The gateway reads the org's credential and forwards the raw
  body and headers; the webhooks service verifies (constant time), creates the
  job through queue-core (provider event ids as idempotency keys: a repeated
  event is the same job) and logs it. Any failed check is 401 and creates
  nothing; an unknown organization looks exactly like a bad signature.
  Answer: ``{job_id, queue_name, status: created|duplicate}``.
* ``GET /webhooks/deliveries``: the inbound log (SDK ``list_inbound_deliveries``).
* ``GET /webhooks/providers``, ``PUT|DELETE /webhooks/providers/{github|stripe}``:
  the per-org signing secrets (not upstream: it read them from server-wide
  ``GITHUB_WEBHOOK_SECRET``/``STRIPE_WEBHOOK_SECRET``; here each org has its
  own, kept in its settings and never echoed).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import StringConstraints
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from starlette.responses import Response

from spooled_gateway import convert
from spooled_gateway.auth.deps import require_principal
from spooled_gateway.auth.principal import Principal
from spooled_gateway.orgs import service as orgs
from spooled_gateway.schemas import common, listing
from spooled_gateway.schemas import webhooks as schemas

router = APIRouter(tags=["incoming-webhooks"])

PROVIDERS = ("custom", "github", "stripe")
#: The only request headers the webhooks service needs (signatures, event names).
FORWARDED_HEADERS = (
    "x-webhook-token",
    "x-hub-signature-256",
    "x-github-event",
    "x-github-delivery",
    "stripe-signature",
)
#: What a request that fails before verification is told (no org enumeration).
_UNAUTHORIZED = {
    "custom": "Invalid or missing X-Webhook-Token",
    "github": "Invalid or missing X-Hub-Signature-256",
    "stripe": "Invalid or missing Stripe-Signature",
}


async def require_unrestricted(
    principal: Annotated[Principal, Depends(require_principal)],
) -> Principal:
    principal.require_unrestricted()
    return principal


Caller = Annotated[Principal, Depends(require_unrestricted)]


class ProviderSecret(common.RequestModel):
    secret: Annotated[str, StringConstraints(min_length=8, max_length=255)]


def _webhook_url(request: Request, org_id: str, provider: str) -> str:
    base = request.app.state.settings.external_url.rstrip("/")
    return f"{base}/api/v1/webhooks/{org_id}/{provider}"


# -- the inbound log and provider secrets (authenticated; literal paths first) -----


@router.get(
    "/webhooks/deliveries",
    responses=common.documented(list[schemas.InboundDelivery], "Accepted webhooks"),
)
async def list_inbound_deliveries(
    request: Request,
    principal: Caller,
    status: Literal["created", "duplicate"] | None = None,
    since: common.QueryTimestamp | None = None,
    queue_name: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Response:
    """Accepted incoming webhooks, newest first; ``limit`` 1..100 (default 50)."""
    message = pb.ListInboundDeliveriesRequest(
        status=status,
        since=common.to_ts(since),
        queue_name=common.path_queue_name(queue_name) if queue_name else None,
        limit=min(max(limit, 1), 100),
        offset=listing.page_offset(offset),
    )
    reply = await request.app.state.webhooks.call(
        principal.tenant, "ListInboundDeliveries", message
    )
    return convert.json_response(
        [
            {
                "id": d.id,
                "provider": d.provider,
                "event_type": d.event_type,
                "matched_queue": convert.opt(d, "matched_queue"),
                "job_id": convert.opt(d, "job_id"),
                "status": convert.opt(d, "status"),
                "created_at": convert.ts(d, "created_at"),
            }
            for d in reply.deliveries
        ]
    )


@router.get(
    "/webhooks/providers",
    responses=common.documented(list[schemas.ProviderStatus], "One row per provider"),
)
async def list_providers(request: Request, principal: Caller) -> Response:
    """Each provider's ingestion URL and whether its credential is configured."""
    out = []
    for provider in PROVIDERS:
        credential = await orgs.ingest_credential(request.app.state.db, principal.org_id, provider)
        out.append(
            {
                "provider": provider,
                "configured": bool(credential),
                "webhook_url": _webhook_url(request, principal.org_id, provider),
            }
        )
    return convert.json_response(out)


def _signed_provider(provider: str) -> str:
    if provider not in orgs.WEBHOOK_SECRET_KEYS:
        raise errors.NotFound(
            "Unknown provider; secrets exist for github and stripe "
            "(custom webhooks use /organizations/webhook-token)"
        )
    return provider


@router.put(
    "/webhooks/providers/{provider}",
    openapi_extra=common.openapi_body(ProviderSecret),
    responses=common.documented(schemas.ProviderStatus, "Configured"),
)
async def set_provider_secret(provider: str, request: Request, principal: Caller) -> Response:
    """Set the signing secret GitHub or Stripe signs this org's webhooks with."""
    body = common.parse_body(ProviderSecret, await request.body())
    await orgs.set_webhook_secret(
        request.app.state.db, principal.org_id, _signed_provider(provider), body.secret
    )
    return convert.json_response(
        {
            "provider": provider,
            "configured": True,
            "webhook_url": _webhook_url(request, principal.org_id, provider),
        }
    )


@router.delete("/webhooks/providers/{provider}", status_code=204)
async def clear_provider_secret(provider: str, request: Request, principal: Caller) -> Response:
    """Remove the secret: that provider's webhooks are refused (401) from now on."""
    await orgs.set_webhook_secret(
        request.app.state.db, principal.org_id, _signed_provider(provider), None
    )
    return Response(status_code=204)


# -- ingestion (public: the signature authenticates) ---------------------------------


@router.post(
    "/webhooks/{org_id}/{provider}",
    responses=common.documented(schemas.WebhookIngested, "The job created (or found again)"),
)
async def ingest(org_id: str, provider: str, request: Request) -> Response:
    """Verify, create a job in the routed queue, log it: ``{job_id, queue_name, status}``."""
    if provider not in PROVIDERS:
        raise errors.NotFound(f"Unknown webhook provider '{provider}'")
    body = await request.body()
    credential = await orgs.ingest_credential(
        request.app.state.db, common.path_id(org_id, "org_id"), provider
    )
    if credential is None:
        raise errors.Unauthorized(_UNAUTHORIZED[provider])
    headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
    message = pb.IngestWebhookRequest(
        provider=provider,
        body=body,
        headers=headers,
        credential=credential,
        max_payload_bytes=request.app.state.settings.max_payload_bytes,
    )
    reply = await request.app.state.webhooks.call(Tenant(org_id), "IngestWebhook", message)
    return convert.json_response(
        {"job_id": reply.job_id, "queue_name": reply.queue_name, "status": reply.status}
    )
