"""When a failed delivery is tried again.

The delay after attempt ``n`` is ``base * 2**(n-1)``, capped at ``max``, times a
random factor in [0.75, 1.25) (capped again), so receivers that failed together
are not retried together. With the defaults (30 s, 4 h, 12 attempts) the last
attempt comes about 12 hours after the event. A ``Retry-After`` header (seconds
or an HTTP date) is honoured: the next attempt never comes sooner than it asks
(up to a day), and never sooner than the backoff says either.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: A receiver cannot push an attempt further out than this.
RETRY_AFTER_MAX_SECS = 24 * 3600.0


def backoff_secs(
    attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay after the ``attempt``-th failed attempt (1-based)."""
    raw = min(cap, base * 2 ** max(attempt - 1, 0))
    return min(cap, raw * (0.75 + rand() / 2))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def next_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    rand: Callable[[], float] = random.random,
) -> float:
    delay = backoff_secs(attempt, base, cap, rand)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX_SECS))
    return delay
