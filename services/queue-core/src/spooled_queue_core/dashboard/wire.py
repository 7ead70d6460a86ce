"""Dashboard summary → protobuf."""

from __future__ import annotations

from spooled_common import timefmt
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_queue_core.dashboard.service import Summary


def dashboard(s: Summary) -> pb.Dashboard:
    return pb.Dashboard(
        **s.jobs,
        **s.workers,
        queues=[pb.DashboardQueue(**q) for q in s.queues],
        throughput=[
            pb.ThroughputPoint(
                minute=timefmt.to_ts(p["minute"]),
                completed=p["completed"],
                failed=p["failed"],
                created=p["created"],
            )
            for p in s.throughput
        ],
    )
