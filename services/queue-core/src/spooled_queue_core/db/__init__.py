"""The ``core`` schema: numbered migrations and the named queries run against it.

Every query lives in ``queries.sql`` under a ``-- name:`` header; asyncpg
prepares each one once per connection. Queries that touch tenant rows always
filter by ``organization_id`` and run inside ``tenant_tx`` (row-level security).
"""

from __future__ import annotations

from spooled_common import sql

#: The Postgres schema queue-core owns.
SCHEMA = "core"
#: Package holding the ``NNNN_name.sql`` migration files.
MIGRATIONS = "spooled_queue_core.db.migrations"

#: The named queries of ``queries.sql``.
QUERIES = sql.Queries.load(__name__)
