"""The diagnosis and dashboard SQL files follow the tenancy rule of db/queries.sql."""

from __future__ import annotations

import re

import pytest
from spooled_common import sql


@pytest.mark.parametrize("package", ["spooled_queue_core.diagnose", "spooled_queue_core.dashboard"])
def test_every_query_filters_by_organization(package: str) -> None:
    queries = sql.Queries.load(package)
    missing = [
        name
        for name in queries.names()
        if not re.search(r"organization_id\s*=\s*\$\d", getattr(queries, name))
    ]
    assert queries.names() and missing == []
