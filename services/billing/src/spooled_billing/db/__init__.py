"""The ``billing`` schema: numbered migrations and the named queries run against it.

Per-org queries filter by ``organization_id`` and run inside ``tenant_tx``
(row-level security); Stripe events, which arrive before we know whose they
are, and the retention sweep use ``maintenance_tx``.
"""

from __future__ import annotations

from spooled_common import sql

#: The Postgres schema billing owns.
SCHEMA = "billing"
#: Package holding the ``NNNN_name.sql`` migration files.
MIGRATIONS = "spooled_billing.db.migrations"

#: The named queries of ``queries.sql``.
QUERIES = sql.Queries.load(__name__)
