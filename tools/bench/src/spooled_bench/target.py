"""What the bench talks to: the suite's addresses, a bench organization, its database.

A private suite (started like `make run`, on free ports) gives everything:
REST and gRPC addresses, the database (to verify counts and seed depth
tests) and each service's pid (to sample its memory). A running suite named
by SPOOLED_BENCH_URL + SPOOLED_BENCH_API_KEY gives what its variables say.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

#: The bench organization's plan: enterprise (no caps) with rate limits out of
#: the way, so the numbers measure the job path, not the limiter refusing.
BENCH_LIMITS = {"rate_limit_requests_per_second": 1_000_000, "rate_limit_burst": 1_000_000}


@dataclass
class Target:
    base_url: str
    grpc_addr: str
    api_key: str
    org_id: str = ""
    database_url: str = ""
    #: process name -> pid (services and "postgres", the postmaster), for peak RSS
    #: and CPU accounting (private suite only).
    pids: dict[str, int] = field(default_factory=dict)
    #: True when the bench started the suite itself (it is thrown away afterwards).
    private: bool = False

    @property
    def services(self) -> dict[str, int]:
        """The suite's own processes (not Postgres)."""
        return {name: pid for name, pid in self.pids.items() if name != "postgres"}

    @contextlib.asynccontextmanager
    async def db(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection scoped to the bench organization (row-level security)."""
        if not self.database_url:
            raise RuntimeError("this workload needs the database (SPOOLED_BENCH_DATABASE_URL)")
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute("SELECT set_config('app.current_org_id', $1, false)", self.org_id)
            yield conn
        finally:
            await conn.close()

    async def drained(self, queue: str) -> dict[str, Any]:
        """Completed jobs of ``queue`` per the database, and first claim → last completion."""
        async with self.db() as conn:
            row = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
                          count(*) AS total,
                          extract(epoch FROM max(completed_at) - min(started_at))::float8 AS span
                   FROM core.jobs WHERE organization_id = $1 AND queue_name = $2""",
                self.org_id,
                queue,
            )
        return dict(row)


def create_bench_org(base_url: str, admin_key: str) -> tuple[str, str]:
    """An enterprise organization for the bench; returns (api key, org id)."""
    r = httpx.post(
        f"{base_url}/api/v1/admin/organizations",
        headers={"X-Admin-Key": admin_key},
        json={
            "name": "Bench Organization",
            "slug": f"bench-{secrets.token_hex(4)}",
            "plan_tier": "enterprise",
            "custom_limits": BENCH_LIMITS,
        },
        timeout=30,
    )
    if r.status_code != 201:
        raise RuntimeError(f"could not create the bench organization: {r.status_code} {r.text}")
    doc = r.json()
    return doc["api_key"]["key"], doc["organization"]["id"]
