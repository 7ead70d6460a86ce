"""Postgres plumbing shared by the services that own a schema.

Tenancy is enforced twice: every query filters by ``organization_id`` and
row-level security is forced on the tenant tables, with the policy reading
``app.current_org_id``. :func:`tenant_tx` sets that per transaction, so a query
that forgets its filter still sees only the caller's rows. Cross-tenant
maintenance (the lease reaper) uses :func:`maintenance_tx`, which sets
``app.maintenance`` instead; the policies admit that explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from spooled_common import errors


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB in and out as raw JSON text via orjson: the gateway already holds
    # bytes, and this avoids the stdlib json round trip.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: v if isinstance(v, str) else orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """Open a pool with the JSON codecs every service expects."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=server_settings or {},
        # Prepared statements are cached per connection; named queries reuse them.
        statement_cache_size=256,
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def tenant_tx(pool: asyncpg.Pool, org_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction scoped to one organization for row-level security."""
    if not org_id:
        raise errors.Unauthorized("Missing organization context")
    async with translate_errors(), pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org_id)
        yield conn


@contextlib.asynccontextmanager
async def maintenance_tx(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that may touch every tenant's rows (reaper, relays)."""
    async with translate_errors(), pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.maintenance', 'on', true)")
        yield conn


@contextlib.asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Map driver errors to AppErrors at the DB edge.

    A lost or refused connection is a 503 with Retry-After (clients retry it),
    never a 500; constraint violations are the caller's bad input.
    """
    try:
        yield
    except errors.AppError:
        raise
    except (
        asyncpg.CannotConnectNowError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.InterfaceError,
        asyncpg.TooManyConnectionsError,
        ConnectionError,
        OSError,
    ) as exc:
        raise errors.ServiceUnavailable(
            "Database unavailable; retry shortly", headers={"Retry-After": "1"}
        ) from exc
    except asyncpg.CheckViolationError as exc:
        raise errors.ValidationError(
            f"Value out of range ({exc.constraint_name or 'check constraint'})"
        ) from exc
    except asyncpg.UniqueViolationError as exc:
        raise errors.Conflict(
            f"Duplicate value ({exc.constraint_name or 'unique constraint'})"
        ) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise errors.ValidationError("Referenced resource does not exist") from exc
    except (asyncpg.InvalidTextRepresentationError, asyncpg.DataError) as exc:
        raise errors.ValidationError("Invalid value") from exc


def record_to_dict(rec: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(rec) if rec is not None else None
