"""Numbered SQL migrations, one schema per service.

Each service ships ``NNNN_<name>.sql`` files in its ``db/migrations`` package.
``migrate()`` applies the ones not yet recorded in ``<schema>.schema_migrations``,
each in its own transaction, under an advisory lock so replicas starting at
once (or a Helm hook racing a pod) never apply a migration twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(package: str) -> list[Migration]:
    found = []
    for entry in resources.files(package).iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {package}: {versions}")
    return found


async def migrate(dsn: str, schema: str, package: str) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    migrations = discover(package)
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        # One lock per schema: different services migrate in parallel.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"spooled-migrate:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version INT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
        }
        for mig in migrations:
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    log.warning("migration %s changed after it was applied", mig.name)
                continue
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '5s'")
                await conn.execute(mig.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, name, checksum)'
                    " VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            log.info("applied migration %s.%s", schema, mig.name)
            applied.append(mig.name)
    finally:
        try:
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtext($1))", f"spooled-migrate:{schema}"
            )
        finally:
            await conn.close()
    return applied
