"""A cron job's trace starts at its firing: schedule.fire → CreateJob → the job row.

The real queue-core runs in this process, built after tracing was turned on
(servers and channels add their interceptors when built); spans stay in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sched_helpers import INTERNAL_TOKEN, fields, replica
from spooled_common.db import maintenance_tx
from spooled_common.tenant import Tenant
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.testing import make_settings as core_settings
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.queue_core import QueueCoreClient
from spooled_scheduler.schedules.service import ScheduleService
from spooled_testing.spans import finished

pytestmark = pytest.mark.usefixtures("clean")

CREATE_JOB = "spooled.internal.v1.QueueCore/CreateJob"


async def test_each_tick_is_the_root_of_its_jobs_trace(
    span_exporter: InMemorySpanExporter, pool: asyncpg.Pool, dsn: str, tenant: Tenant
) -> None:
    core = QueueCoreApp(core_settings(dsn, SPOOLED_INTERNAL_TOKEN=INTERNAL_TOKEN))
    await core.start()
    client = QueueCoreClient(f"127.0.0.1:{core.grpc_port}", INTERNAL_TOKEN)
    try:
        clock = ManualClock(datetime(2026, 6, 7, 12, 0, 0, tzinfo=UTC))
        schedule = await ScheduleService(pool, clock, client).create(
            tenant, fields("*/10 * * * * *")
        )
        loop = replica(pool, dsn, clock, client, "traced")
        for _ in range(2):
            await clock.advance(10)
            assert await loop.round() == 1
    finally:
        await client.close()
        await core.stop()

    fires = finished(span_exporter, "schedule.fire")
    assert [s.attributes["spooled.schedule.tick"] for s in fires] == [
        "2026-06-07T12:00:10Z",
        "2026-06-07T12:00:20Z",
    ]
    async with maintenance_tx(pool) as conn:
        jobs = {
            r["id"]: r["traceparent"]
            for r in await conn.fetch(
                "SELECT id, traceparent FROM core.jobs WHERE organization_id = $1",
                tenant.org_id,
            )
        }
    assert len(jobs) == 2
    for fire in fires:
        assert fire.parent is None, "a firing has no caller: it starts the trace"
        assert fire.kind is trace.SpanKind.INTERNAL
        assert fire.attributes["spooled.org_id"] == tenant.org_id
        assert fire.attributes["spooled.schedule_id"] == str(schedule["id"])
        assert fire.attributes["spooled.queue"] == "cron-q"
        job_id = fire.attributes["spooled.job_id"]
        trace_id = f"{fire.context.trace_id:032x}"
        # The enqueue crosses to queue-core in the firing's trace ...
        [client_span] = [
            s
            for s in finished(span_exporter, CREATE_JOB)
            if s.kind is trace.SpanKind.CLIENT and s.parent == fire.context
        ]
        assert any(
            s.kind is trace.SpanKind.SERVER
            and s.parent is not None
            and (s.parent.trace_id, s.parent.span_id)
            == (client_span.context.trace_id, client_span.context.span_id)
            for s in finished(span_exporter, CREATE_JOB)
        )
        # ... and the job keeps it, for its claim, completion and webhooks to continue.
        assert jobs[job_id] is not None and jobs[job_id].split("-")[1] == trace_id
    assert len({f.context.trace_id for f in fires}) == 2, "one trace per tick"
