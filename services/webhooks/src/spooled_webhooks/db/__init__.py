"""The ``webhooks`` schema: numbered migrations and the named queries run against it.

Every query lives in ``queries.sql`` under a ``-- name:`` header. Queries on
tenant rows filter by ``organization_id`` and run inside ``tenant_tx``
(row-level security); the event consumer, the dispatcher and the cleanup use
``maintenance_tx`` and still name the organization wherever they touch a row.
"""

from __future__ import annotations

from spooled_common import sql

#: The Postgres schema the webhooks service owns.
SCHEMA = "webhooks"
#: Package holding the ``NNNN_name.sql`` migration files.
MIGRATIONS = "spooled_webhooks.db.migrations"

#: The named queries of ``queries.sql``.
QUERIES = sql.Queries.load(__name__)
