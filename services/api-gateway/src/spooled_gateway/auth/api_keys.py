"""API key management: create (raw key returned once), list, read, update, revoke."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from spooled_common import db, errors, timefmt

from spooled_gateway.auth import authenticate, keys
from spooled_gateway.db import queries
from spooled_gateway.orgs import plans

#: Stored scope of a key created without ``queues``: every queue.
ALL_QUEUES = ["*"]


def summary(row: asyncpg.Record) -> dict[str, Any]:
    """The upstream key summary (never the hash, never the raw key)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "key_prefix": row["key_prefix"],
        "queues": list(row["queues"]),
        "rate_limit": row["rate_limit"],
        "is_active": row["is_active"],
        "created_at": timefmt.iso(row["created_at"]),
        "last_used": timefmt.iso(row["last_used"]),
        "expires_at": timefmt.iso(row["expires_at"]),
    }


async def insert(
    conn: asyncpg.Connection,
    org_id: str,
    *,
    name: str,
    queues: Sequence[str],
    rate_limit: int | None,
    expires_at: datetime | None,
    env: str,
) -> dict[str, Any]:
    """Mint and store a key inside the caller's transaction; returns the 201 body."""
    new = keys.mint(env)
    row = await conn.fetchrow(
        queries.insert_key,
        str(uuid.uuid4()),
        org_id,
        name,
        new.lookup_hash,
        new.key_prefix,
        list(queues),
        rate_limit,
        expires_at,
    )
    return {
        "id": row["id"],
        "key": new.raw,
        "name": row["name"],
        "created_at": timefmt.iso(row["created_at"]),
        "expires_at": timefmt.iso(row["expires_at"]),
    }


async def enforce_key_cap(conn: asyncpg.Connection, org_id: str) -> None:
    """429 QUOTA_EXCEEDED when one more active key would pass the plan's cap."""
    await conn.execute(queries.lock_org_resource, org_id, "api_keys")
    org = await conn.fetchrow(queries.get_org, org_id)
    if org is None:
        raise errors.NotFound("Organization not found")
    limit = plans.limits_for(org["plan_tier"], org["custom_limits"]).max_api_keys
    if limit is None:
        return
    current = await conn.fetchval(queries.count_active_keys, org_id)
    if current + 1 > limit:
        raise plans.quota_exceeded("api_keys", current, limit, org["plan_tier"])


def scope_within(requested: Sequence[str] | None, caller: tuple[str, ...]) -> list[str]:
    """The scope to store for a key created by a caller with scope ``caller``.

    An unrestricted caller may grant anything; a queue-scoped one only a
    subset of its own queues, so a key can never mint a more powerful key.
    """
    unrestricted = not caller or "*" in caller
    wanted = list(requested) if requested else list(ALL_QUEUES)
    if unrestricted:
        return wanted
    if "*" in wanted or not set(wanted) <= set(caller):
        raise errors.AccessDenied("API key cannot grant access to queues outside its own scope")
    return wanted


async def create(
    pool: asyncpg.Pool,
    org_id: str,
    *,
    name: str,
    queues: Sequence[str],
    rate_limit: int | None,
    expires_at: datetime | None,
    env: str,
    enforce_cap: bool = True,
) -> dict[str, Any]:
    async with db.tenant_tx(pool, org_id) as conn:
        if enforce_cap:
            await enforce_key_cap(conn, org_id)
        return await insert(
            conn,
            org_id,
            name=name,
            queues=queues,
            rate_limit=rate_limit,
            expires_at=expires_at,
            env=env,
        )


async def list_keys(pool: asyncpg.Pool, org_id: str) -> list[dict[str, Any]]:
    async with db.tenant_tx(pool, org_id) as conn:
        rows = await conn.fetch(queries.list_keys, org_id)
    return [summary(r) for r in rows]


async def get(pool: asyncpg.Pool, org_id: str, key_id: str) -> dict[str, Any]:
    async with db.tenant_tx(pool, org_id) as conn:
        row = await conn.fetchrow(queries.get_key, org_id, key_id)
    if row is None:
        raise errors.NotFound("API key not found")
    return summary(row)


async def update(
    pool: asyncpg.Pool,
    org_id: str,
    key_id: str,
    *,
    name: str | None,
    queues: Sequence[str] | None,
    rate_limit: int | None,
    is_active: bool | None,
) -> dict[str, Any]:
    async with db.tenant_tx(pool, org_id) as conn:
        current = await conn.fetchrow(queries.get_key, org_id, key_id)
        if current is None:
            raise errors.NotFound("API key not found")
        if is_active and not current["is_active"]:
            await enforce_key_cap(conn, org_id)
        row = await conn.fetchrow(
            queries.update_key,
            org_id,
            key_id,
            name,
            list(queues) if queues is not None else None,
            rate_limit,
            is_active,
        )
    # Scope or state changed: drop cached lookups so it applies at once here.
    authenticate.invalidate()
    return summary(row)


async def revoke(pool: asyncpg.Pool, org_id: str, key_id: str) -> None:
    async with db.tenant_tx(pool, org_id) as conn:
        found = await conn.fetchval(queries.revoke_key, org_id, key_id)
    if found is None:
        raise errors.NotFound("API key not found")
    authenticate.invalidate()
