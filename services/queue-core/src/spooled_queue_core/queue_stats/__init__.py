"""Per-queue gauges read from the database for ``/metrics`` (see :mod:`.collector`)."""

from __future__ import annotations

from spooled_common import sql

#: The named queries of ``queries.sql``.
QUERIES = sql.Queries.load(__name__)
