"""Architecture rule: every tenant query filters by organization_id.

RLS is the second line of defence; the first is that no named query forgets
the filter. Maintenance queries (run in maintenance_tx) are the only exception.
"""

from __future__ import annotations

import re

from spooled_queue_core.db import QUERIES

MAINTENANCE = {
    "reap_expired_leases",
    "reap_stale_workers",
    "unblock_children",
    "notify_due_jobs",
    # Lists the organizations to sweep; each sweep then runs in its tenant_tx.
    "retention_orgs",
}
TENANT_TABLES = (
    "core.jobs",
    "core.queue_config",
    "core.workers",
    "core.job_history",
    "core.dead_letter_queue",
)


def test_every_tenant_query_filters_by_organization() -> None:
    missing = []
    for name in QUERIES.names():
        text = getattr(QUERIES, name)
        if name in MAINTENANCE or not any(t in text for t in TENANT_TABLES):
            continue
        # Statements chained on a CTE (UPDATE ... FROM picked WHERE id = picked.id)
        # inherit its filter, so one org predicate per query is the rule.
        # An upsert is scoped by its conflict target instead.
        scoped_upsert = "ON CONFLICT (organization_id" in text
        if not scoped_upsert and not re.search(r"organization_id\s*=\s*\$\d", text):
            missing.append(name)
    assert missing == []


def test_maintenance_queries_exist() -> None:
    assert set(QUERIES.names()) >= MAINTENANCE
