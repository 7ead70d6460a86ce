"""The ``queue`` label of per-queue metrics, with a bounded number of values.

Queue names are chosen by tenants, so a label per name could grow without
limit: every distinct value is a new time series in every replica and in
Prometheus (a histogram costs one per bucket). Two rules keep it bounded:

* the label is the queue *name* only, never the organization: tenants that
  use the same name (``emails``, ``default``) share a series;
* at most ``limit`` names get their own value; everything else is
  :data:`OTHER`. Counters and histograms admit names first come, first
  served, and keep them for the life of the process (a series that changed
  meaning midway would corrupt its rates). Database gauges pick their
  ``limit`` names afresh on each refresh, deepest backlog first
  (:mod:`spooled_queue_core.queue_stats`).
"""

from __future__ import annotations

import threading

#: The label value of every queue past the limit. A queue really named
#: ``_other`` shares that series; nothing else depends on the value.
OTHER = "_other"
DEFAULT_LIMIT = 50


class QueueLabels:
    """First-come label values for counters and histograms, at most ``limit`` of them."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    def configure(self, limit: int) -> None:
        """Set the limit (at startup, from settings); names admitted so far stay."""
        with self._lock:
            self._limit = max(0, limit)

    def __call__(self, queue: str) -> str:
        if queue in self._admitted:
            return queue
        with self._lock:
            if queue in self._admitted or len(self._admitted) < self._limit:
                self._admitted.add(queue)
                return queue
        return OTHER
