"""Cutting a batch of outbox rows into windows whose publishes may be in flight together.

A window is a run of consecutive rows (in id order) in which no two rows
belong to the same aggregate, so nothing inside it has to wait for anything
else inside it; a row of an aggregate already in the window starts the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

import asyncpg

R = TypeVar("R")


def sequence_key(row: asyncpg.Record) -> tuple[str, str]:
    """The ordered sequence a row belongs to: its aggregate within its organization.

    ``aggregate`` is NOT NULL and every writer names the job, queue, worker or
    workflow the event is about, so there is no keyless row to place. Queue
    names and worker ids are only unique per tenant, hence the organization.
    Two kinds of aggregate that happen to share a name (a queue named like a
    worker) merely end a window early: a coarser key never reorders anything.
    """
    return row["organization_id"], row["aggregate"]


def windows(rows: Sequence[R], size: int, key: Callable[[R], Hashable]) -> Iterator[Sequence[R]]:
    """Consecutive slices of ``rows``, each at most ``size`` long, without a repeated key."""
    start, seen = 0, set[Hashable]()
    for i, row in enumerate(rows):
        k = key(row)
        if k in seen or i - start == size:
            yield rows[start:i]
            start, seen = i, set()
        seen.add(k)
    if start < len(rows):
        yield rows[start:]
