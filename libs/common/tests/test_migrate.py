from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest
from spooled_common.migrate import discover, migrate


@pytest.fixture
def migrations_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pkg = tmp_path / "fake_migrations"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "0001_create.sql").write_text("CREATE TABLE demo.items (id INT PRIMARY KEY);")
    (pkg / "0002_seed.sql").write_text("INSERT INTO demo.items VALUES (1), (2);")
    (pkg / "README.txt").write_text("not a migration")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fake_migrations", None)
    return "fake_migrations"


def test_discover_orders_by_number_and_ignores_other_files(migrations_pkg: str) -> None:
    assert [m.name for m in discover(migrations_pkg)] == ["0001_create.sql", "0002_seed.sql"]


async def test_migrate_applies_once_and_records_versions(
    migrations_pkg: str, fresh_dsn: str
) -> None:
    assert await migrate(fresh_dsn, "demo", migrations_pkg) == ["0001_create.sql", "0002_seed.sql"]
    # Replaying applies nothing and does not duplicate the seed rows.
    assert await migrate(fresh_dsn, "demo", migrations_pkg) == []
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM demo.items") == 2
        versions = await conn.fetch("SELECT version FROM demo.schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [1, 2]
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_dsn: str
) -> None:
    pkg = tmp_path / "bad_migrations"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "0001_partial.sql").write_text(
        textwrap.dedent("""
        CREATE TABLE demo2.t (id INT);
        INSERT INTO demo2.t VALUES ('not a number');
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await migrate(fresh_dsn, "demo2", "bad_migrations")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('demo2.t')") is None
        assert await conn.fetchval("SELECT count(*) FROM demo2.schema_migrations") == 0
    finally:
        await conn.close()
