"""Leader election with a lease row in Postgres (one row per role, with a TTL).

Every replica calls :meth:`LeaderLease.acquire_or_renew` each round: the
holder extends its lease, the others take it over only once it has expired.
A replica that stops renewing (crashed, partitioned, paused) loses the lease
one TTL after its last renewal at the latest; a replica that shuts down
cleanly resigns so a successor takes over at once.

The lease alone is not trusted to be exclusive (a paused process may still
believe it leads): each firing transaction re-checks it and holds it with
``FOR SHARE`` (see ``hold_leadership`` in queries.sql).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg
from spooled_common.db import maintenance_tx

from spooled_scheduler import metrics
from spooled_scheduler.clock import Clock
from spooled_scheduler.db import QUERIES as Q

log = logging.getLogger(__name__)

#: The role the firing loop elects a leader for.
FIRING_ROLE = "scheduler-firing"
#: A lease claim waits at most this long for the current leader's firing
#: transaction (it holds the row FOR SHARE) before trying again next round.
CLAIM_LOCK_TIMEOUT = "2s"


class LeaderLease:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, holder: str, ttl: timedelta, role: str = FIRING_ROLE
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.holder = holder
        self.role = role
        self.ttl = ttl
        self._valid_until: datetime | None = None

    @property
    def is_leader(self) -> bool:
        """This replica's belief; the firing transaction checks the database."""
        return self._valid_until is not None and self._clock.now() < self._valid_until

    async def acquire_or_renew(self) -> bool:
        """Take or extend the lease; True while this replica is the leader."""
        now = self._clock.now()
        try:
            async with maintenance_tx(self._pool) as conn:
                await conn.execute(f"SET LOCAL lock_timeout = '{CLAIM_LOCK_TIMEOUT}'")
                row = await conn.fetchrow(
                    Q.claim_leadership, self.role, self.holder, now, now + self.ttl
                )
        except asyncpg.LockNotAvailableError:
            row = None
        was_leader = self._valid_until is not None
        self._valid_until = now + self.ttl if row is not None else None
        if row is not None and not was_leader:
            log.info(
                "%s: became leader of %s until %s",
                self.holder,
                self.role,
                row["expires_at"].isoformat(),
            )
        elif row is None and was_leader:
            log.warning("%s: lost leadership of %s", self.holder, self.role)
        metrics.IS_LEADER.set(1 if row is not None else 0)
        return row is not None

    async def resign(self) -> None:
        """Give the lease up now (clean shutdown) so a successor need not wait a TTL."""
        if self._valid_until is None:
            return
        async with maintenance_tx(self._pool) as conn:
            await conn.execute(Q.resign_leadership, self.role, self.holder)
        self._valid_until = None
        metrics.IS_LEADER.set(0)
        log.info("%s: resigned leadership of %s", self.holder, self.role)
