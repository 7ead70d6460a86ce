"""``spooled.internal.v1.Scheduler`` over real gRPC, real Postgres, real queue-core."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
from sched_helpers import INTERNAL_TOKEN, T0, core_jobs, runs_of, scheduler_settings
from spooled_common import errors, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import scheduler_pb2 as pb
from spooled_proto.spooled.internal.v1 import scheduler_pb2_grpc
from spooled_scheduler.app import SchedulerApp
from spooled_scheduler.clock import ManualClock
from spooled_scheduler.queue_core import QueueCoreClient


class Client:
    """A stub acting as one tenant; failed calls raise the AppError they carried."""

    def __init__(self, stub: scheduler_pb2_grpc.SchedulerStub, tenant: Tenant) -> None:
        self.stub, self.tenant = stub, tenant

    async def __call__(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self.stub, method)(
                request, metadata=rpc.call_metadata(INTERNAL_TOKEN, self.tenant), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None

    async def create(self, cron: str = "0 0 * * * *", **kw: Any) -> pb.Schedule:
        spec: dict[str, Any] = {
            "name": "hourly",
            "cron_expression": cron,
            "queue_name": "q",
            "payload_template": b'{"n": 1}',
        }
        spec.update(kw)
        return await self(
            "CreateSchedule",  # type: ignore[no-any-return]
            pb.CreateScheduleRequest(schedule=pb.ScheduleSpec(**spec)),
        )


@pytest.fixture(scope="module")
async def app(dsn: str, core_client: QueueCoreClient) -> AsyncIterator[SchedulerApp]:
    app = SchedulerApp(
        scheduler_settings(dsn), clock=ManualClock(T0), core=core_client, run_loop=False
    )
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="module")
async def stub(app: SchedulerApp) -> AsyncIterator[scheduler_pb2_grpc.SchedulerStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        yield scheduler_pb2_grpc.SchedulerStub(channel)


@pytest.fixture
def call(stub: scheduler_pb2_grpc.SchedulerStub, tenant: Tenant) -> Client:
    return Client(stub, tenant)


async def count_schedules(pool: asyncpg.Pool, org: str) -> int:
    from spooled_common.db import tenant_tx

    async with tenant_tx(pool, org) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM scheduler.schedules"))


class TestCreate:
    async def test_defaults_and_next_run(self, call: Client, tenant: Tenant) -> None:
        s = await call.create()
        assert s.organization_id == tenant.org_id and s.is_active and s.timezone == "UTC"
        assert (s.priority, s.max_retries, s.timeout_seconds) == (0, 3, 300)
        assert (s.missed_run_policy, s.catch_up_limit, s.overlap_policy) == ("skip", 10, "allow")
        assert s.next_run_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(hours=1)
        assert orjson.loads(s.payload_template) == {"n": 1} and s.run_count == 0
        assert not s.HasField("last_run_at") and s.tags == b""

    async def test_timezone_applies_to_next_run(self, call: Client) -> None:
        s = await call.create("0 30 2 * * *", timezone="Europe/Berlin")
        assert s.next_run_at.ToDatetime(tzinfo=UTC) == datetime(2026, 6, 8, 0, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("kw", "fragment"),
        [
            ({"cron": "61 * * * * *"}, "Invalid cron expression: second: 61 is out of range"),
            ({"cron": "* * *"}, "Invalid cron expression"),
            ({"timezone": "Mars/Olympus"}, "Unknown timezone 'Mars/Olympus'"),
            ({"name": ""}, "name"),
            ({"queue_name": "x" * 101}, "queue_name"),
            ({"priority": 101}, "priority"),
            ({"max_retries": -1}, "max_retries"),
            ({"timeout_seconds": 0}, "timeout_seconds"),
            ({"missed_run_policy": "backfill"}, "missed_run_policy"),
            ({"overlap_policy": "queue"}, "overlap_policy"),
            ({"catch_up_limit": 0}, "catch_up_limit"),
            ({"payload_template": b""}, "payload_template"),
            ({"payload_template": b"{nope"}, "payload_template"),
            ({"tags": b"[1,"}, "tags"),
        ],
    )
    async def test_bad_input_is_400_and_nothing_is_stored(
        self, call: Client, pool: asyncpg.Pool, tenant: Tenant, kw: dict[str, Any], fragment: str
    ) -> None:
        cron = kw.pop("cron", "0 0 * * * *")
        with pytest.raises(errors.ValidationError, match=fragment.replace("*", r"\*")) as info:
            await call.create(cron, **kw)
        assert info.value.status == 400
        assert await count_schedules(pool, tenant.org_id) == 0

    async def test_plan_cap_on_active_schedules(self, call: Client) -> None:
        for _ in range(2):
            await call(
                "CreateSchedule",
                pb.CreateScheduleRequest(
                    schedule=pb.ScheduleSpec(
                        name="a",
                        cron_expression="0 0 * * * *",
                        queue_name="q",
                        payload_template=b"{}",
                    ),
                    max_active_schedules=2,
                ),
            )
        with pytest.raises(errors.QuotaExceeded) as info:
            await call(
                "CreateSchedule",
                pb.CreateScheduleRequest(
                    schedule=pb.ScheduleSpec(
                        name="b",
                        cron_expression="0 0 * * * *",
                        queue_name="q",
                        payload_template=b"{}",
                    ),
                    max_active_schedules=2,
                ),
            )
        assert info.value.extra == {
            "error": "limit_exceeded",
            "resource": "schedules",
            "current": 2,
            "limit": 2,
        }

    async def test_scoped_key_may_create_only_in_its_queues(
        self, stub: scheduler_pb2_grpc.SchedulerStub, tenant: Tenant
    ) -> None:
        scoped = Client(stub, Tenant(tenant.org_id, frozenset({"allowed"})))
        with pytest.raises(errors.AccessDenied):
            await scoped.create(queue_name="other")
        assert (await scoped.create(queue_name="allowed")).queue_name == "allowed"


class TestReadUpdateDelete:
    async def test_get_list_filters_and_isolation(
        self, call: Client, stub: scheduler_pb2_grpc.SchedulerStub, app: SchedulerApp
    ) -> None:
        a = await call.create(queue_name="alpha")
        assert isinstance(app.clock, ManualClock)
        await app.clock.advance(1)  # created_at orders the list
        b = await call.create(queue_name="beta")
        await call("PauseSchedule", pb.ScheduleRef(id=b.id))
        got = await call("GetSchedule", pb.ScheduleRef(id=a.id))
        assert got.id == a.id
        listed = await call("ListSchedules", pb.ListSchedulesRequest(limit=10))
        assert [s.id for s in listed.schedules] == [b.id, a.id]  # newest first
        by_queue = await call("ListSchedules", pb.ListSchedulesRequest(queue_name="alpha"))
        assert [s.id for s in by_queue.schedules] == [a.id]
        active = await call("ListSchedules", pb.ListSchedulesRequest(is_active=True))
        assert [s.id for s in active.schedules] == [a.id]
        page = await call("ListSchedules", pb.ListSchedulesRequest(limit=1, offset=1))
        assert [s.id for s in page.schedules] == [a.id]
        stranger = Client(stub, Tenant(f"org-{uuid.uuid4()}"))
        with pytest.raises(errors.NotFound, match="Schedule not found"):
            await stranger("GetSchedule", pb.ScheduleRef(id=a.id))
        assert not (await stranger("ListSchedules", pb.ListSchedulesRequest())).schedules
        scoped = Client(stub, Tenant(call.tenant.org_id, frozenset({"beta"})))
        assert [
            s.id for s in (await scoped("ListSchedules", pb.ListSchedulesRequest())).schedules
        ] == [b.id]
        with pytest.raises(errors.NotFound):
            await scoped("GetSchedule", pb.ScheduleRef(id=a.id))

    async def test_update_keeps_unset_fields_and_recomputes_timing(self, call: Client) -> None:
        s = await call.create(tags=b'{"team": "ops"}', description="d")
        u = await call("UpdateSchedule", pb.UpdateScheduleRequest(id=s.id, priority=7))
        assert u.priority == 7 and u.description == "d" and orjson.loads(u.tags) == {"team": "ops"}
        assert u.next_run_at == s.next_run_at
        u = await call(
            "UpdateSchedule",
            pb.UpdateScheduleRequest(
                id=s.id,
                cron_expression="0 */10 * * * *",
                overlap_policy="skip",
                payload_template=b'{"v": 2}',
            ),
        )
        assert u.next_run_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=10)
        assert u.overlap_policy == "skip" and orjson.loads(u.payload_template) == {"v": 2}
        assert u.queue_name == "q"

    async def test_invalid_update_changes_nothing(self, call: Client) -> None:
        s = await call.create()
        with pytest.raises(errors.ValidationError, match="Unknown timezone"):
            await call(
                "UpdateSchedule",
                pb.UpdateScheduleRequest(id=s.id, name="renamed", timezone="Nowhere/City"),
            )
        got = await call("GetSchedule", pb.ScheduleRef(id=s.id))
        assert got.name == s.name and got.timezone == "UTC"

    async def test_pause_resume(self, call: Client) -> None:
        s = await call.create()
        paused = await call("PauseSchedule", pb.ScheduleRef(id=s.id))
        assert not paused.is_active
        resumed = await call("ResumeSchedule", pb.ResumeScheduleRequest(id=s.id))
        assert resumed.is_active and resumed.next_run_at == s.next_run_at

    async def test_resume_respects_the_cap(self, call: Client) -> None:
        a = await call.create()
        await call("PauseSchedule", pb.ScheduleRef(id=a.id))
        await call.create()
        with pytest.raises(errors.QuotaExceeded):
            await call("ResumeSchedule", pb.ResumeScheduleRequest(id=a.id, max_active_schedules=1))

    async def test_delete(self, call: Client) -> None:
        s = await call.create()
        await call("DeleteSchedule", pb.ScheduleRef(id=s.id))
        with pytest.raises(errors.NotFound):
            await call("DeleteSchedule", pb.ScheduleRef(id=s.id))
        with pytest.raises(errors.NotFound):
            await call("GetScheduleHistory", pb.ScheduleHistoryRequest(id=s.id))


class TestTrigger:
    async def test_trigger_enqueues_through_queue_core(
        self, call: Client, pool: asyncpg.Pool, tenant: Tenant
    ) -> None:
        s = await call.create(
            priority=5, max_retries=1, timeout_seconds=30, tags=b'["nightly"]', queue_name="reports"
        )
        reply = await call("TriggerSchedule", pb.ScheduleRef(id=s.id))
        [job] = await core_jobs(pool, tenant.org_id)
        assert job["id"] == reply.job_id and job["queue_name"] == "reports"
        assert job["status"] == "pending" and job["payload"] == {"n": 1}
        assert (job["priority"], job["max_retries"], job["timeout_seconds"]) == (5, 1, 30)
        assert job["tags"] == ["nightly"]
        got = await call("GetSchedule", pb.ScheduleRef(id=s.id))
        assert got.run_count == 1 and got.last_run_at == reply.triggered_at
        assert got.next_run_at == s.next_run_at  # the cadence is untouched
        [run] = (await call("GetScheduleHistory", pb.ScheduleHistoryRequest(id=s.id))).runs
        assert (run.job_id, run.status, run.kind) == (reply.job_id, "completed", "manual")
        assert len(await runs_of(pool, s.id)) == 1


async def test_calls_without_the_internal_token_are_refused(
    stub: scheduler_pb2_grpc.SchedulerStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListSchedules(
            pb.ListSchedulesRequest(), metadata=rpc.call_metadata("wrong", Tenant("o"))
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_calls_without_a_tenant_are_refused(stub: scheduler_pb2_grpc.SchedulerStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListSchedules(
            pb.ListSchedulesRequest(), metadata=rpc.call_metadata(INTERNAL_TOKEN, None)
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
