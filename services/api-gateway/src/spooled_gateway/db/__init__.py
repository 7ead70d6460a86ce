"""The gateway's own schema (``gateway``): migrations and named queries."""

from __future__ import annotations

from spooled_common import sql

#: Every named query in ``queries.sql``: ``queries.key_by_hash``.
queries = sql.Queries.load(__name__)
