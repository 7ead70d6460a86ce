"""Limits on page and batch sizes."""

from __future__ import annotations


def clamp(value: int, low: int, high: int, *, default: int) -> int:
    """``value`` within [low, high]; 0 or less (proto3 "unset") means ``default``."""
    if value <= 0:
        value = default
    return max(low, min(high, value))
