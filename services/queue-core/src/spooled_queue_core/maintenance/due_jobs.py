"""Wake claimers when delayed jobs come due.

Claims treat a due ``scheduled`` job (or a retry whose backoff has passed) as
claimable, so nothing needs promoting; but a long-polling claimer sleeps until
notified, so this loop sends the NOTIFY for queues whose jobs just came due.
Every replica may run it; a duplicate wake-up costs one empty claim.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from spooled_common.db import maintenance_tx

from spooled_queue_core.db import QUERIES as Q

#: On the first scan, look back this far (a restart may have missed some).
INITIAL_LOOKBACK = timedelta(minutes=1)


class DueJobNotifier:
    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self._channel = channel
        self._since: datetime | None = None

    async def run_once(self) -> int:
        """Notify every (org, queue) with jobs due since the last scan; returns how many."""
        since = self._since or datetime.now(UTC) - INITIAL_LOOKBACK
        async with maintenance_tx(self._pool) as conn:
            row = await conn.fetchrow(Q.notify_due_jobs, since, self._channel)
        self._since = row["scanned_at"]
        return int(row["notified"])
