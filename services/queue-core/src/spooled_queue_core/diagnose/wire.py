"""Diagnosis ↔ protobuf (details travel as raw JSON bytes, like every JSON document)."""

from __future__ import annotations

import orjson
from spooled_common import timefmt
from spooled_proto.spooled.internal.v1 import queue_core_pb2 as pb

from spooled_queue_core.diagnose.models import Diagnosis, PlanCaps


def plan_caps(msg: pb.PlanCaps) -> PlanCaps:
    return PlanCaps(
        tier=msg.tier,
        max_workers=msg.max_workers if msg.HasField("max_workers") else None,
        upgrade_to=msg.upgrade_to if msg.HasField("upgrade_to") else None,
    )


def diagnosis(d: Diagnosis) -> pb.Diagnosis:
    return pb.Diagnosis(
        job_id=d.job_id,
        queue_name=d.queue_name,
        status=d.status,
        runnable=d.runnable,
        blockers=[
            pb.Blocker(code=b.code, message=b.message, details=orjson.dumps(b.details))
            for b in d.blockers
        ],
        checked_at=timefmt.to_ts(d.checked_at),
    )
