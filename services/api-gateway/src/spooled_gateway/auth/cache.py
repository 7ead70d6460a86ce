"""A small in-process TTL cache for authentication lookups.

It saves a database round trip when the same key is presented many times a
second. Its TTL is the bound on how stale a revocation made by *another*
replica can be; revocations made in this process call :meth:`TtlCache.clear`
so they take effect at once.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

#: Upper bound on how long another replica's revocation can go unseen.
MAX_TTL_S = 5.0


class TtlCache(Generic[V]):
    def __init__(self, ttl_s: float = 3.0, max_entries: int = 10_000) -> None:
        if ttl_s > MAX_TTL_S:
            raise ValueError(f"auth cache TTL must be <= {MAX_TTL_S}s so revocations apply")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        expires, value = hit
        if expires < time.monotonic():
            self._items.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: V) -> None:
        if len(self._items) >= self.max_entries:
            # Crude but bounded: entries live seconds, so dropping all is cheap.
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl_s, value)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
