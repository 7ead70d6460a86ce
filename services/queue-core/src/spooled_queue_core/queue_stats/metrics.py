"""The process's database-gauge collector, registered with the default registry.

:class:`~spooled_queue_core.app.QueueCoreApp` binds it to its pool at start;
until then it exports nothing.
"""

from __future__ import annotations

from prometheus_client import REGISTRY

from spooled_queue_core.queue_stats.collector import QueueStatsCollector

QUEUE_STATS = QueueStatsCollector()
REGISTRY.register(QUEUE_STATS)
