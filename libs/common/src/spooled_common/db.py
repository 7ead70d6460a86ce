"""Postgres plumbing shared by the services that own a schema.

Tenancy is enforced twice: every query filters by ``organization_id`` and
row-level security is forced on the tenant tables, with the policy reading
``app.current_org_id``. :func:`tenant_tx` sets that per transaction, so a query
that forgets its filter still sees only the caller's rows. Cross-tenant
maintenance (the lease reaper) uses :func:`maintenance_tx`, which sets
``app.maintenance`` instead; the policies admit that explicitly.

While tracing is on, :func:`tenant_tx` also sets ``app.traceparent`` to the
current span's W3C context, so a row can record which trace wrote it without
any query passing it along (see spooled_common.tracing).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from spooled_common import errors, tracing


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


async def _on_release(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more.

    asyncpg itself rolls back a transaction left open and drops listeners
    before calling this. Its default would then also run RESET ALL, CLOSE ALL,
    UNLISTEN * and an advisory unlock: one more round trip for every
    transaction. Pooled connections never carry session state here: every use
    is a transaction whose settings are transaction-local (``set_config(...,
    true)`` in tenant_tx / maintenance_tx), LISTEN and session advisory locks
    live on dedicated connections, and advisory locks taken in a transaction
    end with it.
    """


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
        reset=_on_release,
        connection_class=_Connection,
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
    setting = f"SELECT set_config('app.current_org_id', {_literal(org_id)}, true)"
    traceparent = tracing.traceparent()
    if traceparent is not None:
        # Same message: rows that keep a trace context (queue-core's jobs and
        # outbox) default their traceparent column to this setting.
        setting += f", set_config('app.traceparent', {_literal(traceparent)}, true)"
    async with translate_errors(), pool.acquire() as conn, _transaction(conn, setting):
        yield conn


@contextlib.asynccontextmanager
async def maintenance_tx(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that may touch every tenant's rows (reaper, relays)."""
    setting = "SELECT set_config('app.maintenance', 'on', true)"
    async with translate_errors(), pool.acquire() as conn, _transaction(conn, setting):
        yield conn


#: Driver errors that say "the database cannot be reached right now", not "this request is
#: wrong": a refused, lost or timed-out connection (class 08, OSError incl. TimeoutError), a
#: server shutting down or starting up (57P01 admin_shutdown on a restart, 57P02, 57P03),
#: no free connection slot (53300). Each is a 503 with Retry-After that clients retry.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # A connection the server dropped mid-operation can fail its reset on release with
    # "cannot switch to state ..."; the outcome of that call is unknown, as with a lost
    # connection, so the client is told to retry (seen when Postgres restarts under load).
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
)


def _outage() -> errors.ServiceUnavailable:
    return errors.ServiceUnavailable(
        "Database unavailable; retry shortly", headers={"Retry-After": "1"}
    )


def unavailable(exc: BaseException) -> errors.ServiceUnavailable | None:
    """The 503 for a database outage, or None when ``exc`` is something else.

    ``translate_errors`` applies it at the DB edge; the REST and gRPC error handlers apply
    it again to whatever escaped, so an outage never surfaces as a 500.
    """
    return _outage() if isinstance(exc, _UNAVAILABLE) else None


@contextlib.asynccontextmanager
async def _transaction(conn: asyncpg.Connection, setting: str) -> AsyncIterator[None]:
    """An asyncpg transaction (savepoints nest inside as usual) opened with ``setting``.

    On pools from :func:`create_pool` the setting rides in the same message as
    BEGIN (see :class:`_Connection`); elsewhere it is a statement of its own.
    """
    begin_with = getattr(conn, "begin_with", None)
    if begin_with is not None:
        begin_with(setting)
    try:
        async with conn.transaction():
            if begin_with is None:
                await conn.execute(setting)
            yield
    finally:
        if begin_with is not None:
            begin_with(None)  # consumed by BEGIN, unless BEGIN never went out


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection whose next BEGIN can carry one more statement.

    On the hot path a transaction is BEGIN, the RLS setting, one statement and
    COMMIT; sent separately, BEGIN and the setting cost a round trip each.
    ``begin_with(sql)`` makes the next ``BEGIN;`` asyncpg's transaction sends
    go out as ``BEGIN; <sql>`` in one simple-protocol message, so the
    transaction (and nested savepoints) still belong to asyncpg.
    """

    __slots__ = ("_begin_suffix",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_suffix: str | None = None

    def begin_with(self, statement: str | None) -> None:
        self._begin_suffix = statement

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        suffix = self._begin_suffix
        if suffix is not None and not args and query == "BEGIN;":
            self._begin_suffix = None
            query = f"BEGIN; {suffix}"
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


def _literal(value: str) -> str:
    """A SQL string literal (E'...': the same meaning whatever standard_conforming_strings)."""
    if "\x00" in value:
        raise errors.Unauthorized("Invalid organization context")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


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
    except _UNAVAILABLE as exc:
        raise _outage() from exc
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
