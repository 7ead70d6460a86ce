"""Retry timing: exponential growth with jitter, the cap, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from spooled_webhooks.sending.backoff import (
    RETRY_AFTER_MAX_SECS,
    backoff_secs,
    next_delay,
    parse_retry_after,
)


def test_doubles_from_the_base_up_to_the_cap() -> None:
    mid = [backoff_secs(n, 30, 4 * 3600, rand=lambda: 0.5) for n in range(1, 13)]
    assert mid[:4] == [30, 60, 120, 240]
    assert mid[-1] == 4 * 3600 and max(mid) == 4 * 3600
    # The default schedule spans hours: the 12th attempt is ~12 h after the first.
    assert 11 * 3600 < sum(mid[:11]) < 13 * 3600


@pytest.mark.parametrize("attempt", [1, 3, 8])
def test_jitter_stays_within_a_quarter(attempt: int) -> None:
    base = 30 * 2 ** (attempt - 1)
    low = backoff_secs(attempt, 30, 10**9, rand=lambda: 0.0)
    high = backoff_secs(attempt, 30, 10**9, rand=lambda: 0.999999)
    assert low == pytest.approx(base * 0.75) and high == pytest.approx(base * 1.25, rel=1e-5)
    assert backoff_secs(attempt, 30, base, rand=lambda: 0.999999) <= base


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") is None


def test_retry_after_is_a_floor_never_a_shortcut() -> None:
    assert next_delay(5, 1.0, base=30, cap=3600, rand=lambda: 0.5) == 480
    assert next_delay(1, 600.0, base=30, cap=3600, rand=lambda: 0.5) == 600
    assert next_delay(1, 10**9, base=30, cap=3600, rand=lambda: 0.5) == RETRY_AFTER_MAX_SECS
