"""Organizations: creation with their first key, reads, updates, webhook tokens, slugs."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import uuid
from typing import Any

import asyncpg
from spooled_common import db, errors, timefmt

from spooled_gateway.auth import api_keys, authenticate
from spooled_gateway.db import queries
from spooled_gateway.orgs.schemas import RESERVED_SLUGS, SLUG_MAX, SLUG_MIN, slug_problem

WEBHOOK_TOKEN_PREFIX = "whk_"
INITIAL_KEY_NAME = "Initial Admin Key"
#: Settings keys of the incoming-webhook signing secrets, per provider.
WEBHOOK_SECRET_KEYS = {"github": "github_webhook_secret", "stripe": "stripe_webhook_secret"}
#: Never echoed inside ``settings``: credentials with endpoints of their own.
_HIDDEN_SETTINGS = ("webhook_token", *WEBHOOK_SECRET_KEYS.values())


def new_webhook_token() -> str:
    return WEBHOOK_TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()


def org_body(row: asyncpg.Record) -> dict[str, Any]:
    """The upstream ``Organization`` JSON."""
    settings = {k: v for k, v in (row["settings"] or {}).items() if k not in _HIDDEN_SETTINGS}
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "plan_tier": row["plan_tier"],
        "billing_email": row["billing_email"],
        "settings": settings,
        "custom_limits": row["custom_limits"],
        "stripe_customer_id": row["stripe_customer_id"],
        "stripe_subscription_id": row["stripe_subscription_id"],
        "stripe_subscription_status": row["stripe_subscription_status"],
        "stripe_current_period_end": timefmt.iso(row["stripe_current_period_end"]),
        "stripe_cancel_at_period_end": row["stripe_cancel_at_period_end"],
        "created_at": timefmt.iso(row["created_at"]),
        "updated_at": timefmt.iso(row["updated_at"]),
    }


def org_summary(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "plan_tier": row["plan_tier"],
        "created_at": timefmt.iso(row["created_at"]),
    }


def duplicate_org(exc: asyncpg.UniqueViolationError) -> errors.Conflict:
    if exc.constraint_name == "organizations_billing_email_key":
        return errors.Conflict("Organization with this billing email already exists")
    return errors.Conflict("Organization with this slug already exists")


async def create_org(
    pool: asyncpg.Pool,
    *,
    name: str,
    slug: str,
    billing_email: str | None,
    key_env: str,
    plan_tier: str = "free",
    settings: dict[str, Any] | None = None,
    custom_limits: dict[str, Any] | None = None,
    org_id: str | None = None,
) -> dict[str, Any]:
    """Create an org and its unrestricted first key; the 201 body of both create routes.

    ``org_id`` is chosen by the caller when billing was told the plan first.
    """
    org_id = org_id or str(uuid.uuid4())
    settings = {**(settings or {}), "webhook_token": new_webhook_token()}
    async with db.tenant_tx(pool, org_id) as conn:
        try:
            row = await conn.fetchrow(
                queries.insert_org,
                org_id,
                name,
                slug,
                plan_tier,
                billing_email,
                settings,
                custom_limits or None,
            )
        except asyncpg.UniqueViolationError as exc:
            raise duplicate_org(exc) from exc
        key = await api_keys.insert(
            conn,
            org_id,
            name=INITIAL_KEY_NAME,
            queues=["*"],
            rate_limit=None,
            expires_at=None,
            env=key_env,
        )
    key.pop("expires_at")  # the initial key never expires; upstream omits the field
    return {"organization": org_body(row), "api_key": key}


async def get_org(pool: asyncpg.Pool, org_id: str) -> asyncpg.Record:
    async with db.tenant_tx(pool, org_id) as conn:
        row = await conn.fetchrow(queries.get_org, org_id)
    if row is None:
        raise errors.NotFound("Organization not found")
    return row


async def update_org(
    pool: asyncpg.Pool,
    org_id: str,
    *,
    name: str | None,
    billing_email: str | None,
    settings: dict[str, Any] | None,
) -> asyncpg.Record:
    async with db.tenant_tx(pool, org_id) as conn:
        try:
            row = await conn.fetchrow(queries.update_org, org_id, name, billing_email, settings)
        except asyncpg.UniqueViolationError as exc:
            raise duplicate_org(exc) from exc
    if row is None:
        raise errors.NotFound("Organization not found")
    return row


async def delete_org(pool: asyncpg.Pool, org_id: str) -> None:
    """Delete the org and (by cascade) its keys; its tokens stop working at once here."""
    async with db.tenant_tx(pool, org_id) as conn:
        await conn.execute(queries.delete_org, org_id)
    authenticate.invalidate()


async def member_keys(pool: asyncpg.Pool, org_id: str) -> list[asyncpg.Record]:
    async with db.tenant_tx(pool, org_id) as conn:
        return list(await conn.fetch(queries.list_active_key_members, org_id))


async def webhook_token(pool: asyncpg.Pool, org_id: str) -> str | None:
    row = await get_org(pool, org_id)
    token = (row["settings"] or {}).get("webhook_token")
    return token if isinstance(token, str) else None


async def regenerate_webhook_token(pool: asyncpg.Pool, org_id: str) -> str:
    async with db.tenant_tx(pool, org_id) as conn:
        token = await conn.fetchval(queries.set_webhook_token, org_id, new_webhook_token())
    if token is None:
        raise errors.NotFound("Organization not found")
    return str(token)


async def verify_webhook_token(pool: asyncpg.Pool, org_id: str, supplied: str) -> bool:
    """For incoming custom webhooks: does ``supplied`` match the org's token? (constant time)."""
    try:
        expected = await webhook_token(pool, org_id)
    except errors.NotFound:
        return False
    return expected is not None and hmac.compare_digest(expected.encode(), supplied.encode())


async def ingest_credential(pool: asyncpg.Pool, org_id: str, provider: str) -> str | None:
    """What an incoming webhook of ``provider`` is verified against: the webhook
    token (custom) or the provider's signing secret; ``""`` when the org has not
    configured one, None when there is no such (live) organization."""
    try:
        row = await get_org(pool, org_id)
    except errors.NotFound:
        return None
    if row["plan_tier"] == "deleted":
        return None
    key = "webhook_token" if provider == "custom" else WEBHOOK_SECRET_KEYS[provider]
    value = (row["settings"] or {}).get(key)
    return value if isinstance(value, str) else ""


async def set_webhook_secret(
    pool: asyncpg.Pool, org_id: str, provider: str, secret: str | None
) -> None:
    """Store (or with None, remove) the org's signing secret for ``provider``."""
    async with db.tenant_tx(pool, org_id) as conn:
        found = await conn.fetchval(
            queries.set_webhook_secret, org_id, WEBHOOK_SECRET_KEYS[provider], secret
        )
    if found is None:
        raise errors.NotFound("Organization not found")


async def slug_taken(pool: asyncpg.Pool, slug: str) -> bool:
    # Cross-tenant by nature: the point is to see other orgs' slugs.
    async with db.maintenance_tx(pool) as conn:
        return bool(await conn.fetchval(queries.slug_taken, slug))


def slugify(name: str) -> str:
    """A valid slug shape from free text (availability not checked)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"org-{slug}".rstrip("-")
    slug = slug[:SLUG_MAX].rstrip("-")
    if len(slug) < SLUG_MIN or slug in RESERVED_SLUGS:
        slug = f"{slug}-org"
    return slug


async def available_variant(pool: asyncpg.Pool, slug: str) -> str | None:
    """``slug`` if free, else a suffixed variant that is free (None if we give up)."""
    candidates = [slug] + [
        f"{slug[: SLUG_MAX - 5].rstrip('-')}-{secrets.token_hex(2)}" for _ in range(3)
    ]
    for candidate in candidates:
        if slug_problem(candidate) is None and not await slug_taken(pool, candidate):
            return candidate
    return None


async def check_slug(pool: asyncpg.Pool, slug: str) -> dict[str, Any]:
    """The ``GET /organizations/check-slug`` body."""
    problem = slug_problem(slug)
    if problem:
        out: dict[str, Any] = {"available": False, "valid": False, "error": problem}
        fixed = slugify(slug)
        if slug_problem(fixed) is None:
            out["suggestion"] = await available_variant(pool, fixed)
        return out
    if not await slug_taken(pool, slug):
        return {"available": True, "valid": True}
    return {
        "available": False,
        "valid": True,
        "error": "Organization with this slug already exists",
        "suggestion": await available_variant(pool, slug),
    }
