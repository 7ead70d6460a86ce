"""The daily job counter over real gRPC and Postgres: atomic, refundable, per UTC day."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from spooled_billing.app import BillingApp
from spooled_common import errors
from spooled_common.db import maintenance_tx
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb


async def limit_jobs(client: Any, org: str, per_day: int | None) -> None:
    doc = (
        b'{"max_jobs_per_day": null}' if per_day is None else b'{"max_jobs_per_day": %d}' % per_day
    )
    await client.call(
        "SetOrgPlan", pb.SetOrgPlanRequest(set_custom_limits=True, custom_limits=doc), org
    )


class TestReserve:
    async def test_fifty_parallel_bulks_admit_exactly_the_limit(
        self, client: Any, org: str
    ) -> None:
        await limit_jobs(client, org, 1_000)

        async def bulk() -> bool:
            try:
                await client.call("ReserveJobs", pb.ReserveJobsRequest(count=100), org)
                return True
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "limit reached" in (exc.details() or "")
                return False

        outcomes = await asyncio.gather(*(bulk() for _ in range(50)))
        assert outcomes.count(True) == 10
        today = await client.call("GetDailyUsage", pb.DailyUsageRequest(), org)
        assert today.jobs_today == 1_000

    async def test_refusal_carries_the_quota_body(self, client: Any, org: str) -> None:
        await limit_jobs(client, org, 5)
        await client.call("ReserveJobs", pb.ReserveJobsRequest(count=4), org)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.call("ReserveJobs", pb.ReserveJobsRequest(count=2), org)
        err = errors.from_rpc_error(info.value)
        assert isinstance(err, errors.QuotaExceeded)
        assert err.body() == {
            "code": "QUOTA_EXCEEDED",
            "error": "limit_exceeded",
            "message": "jobs per day limit reached (4/5). Upgrade to starter for higher limits.",
            "resource": "jobs_per_day",
            "current": 4,
            "limit": 5,
            "plan": "free",
            "upgrade_to": "starter",
        }
        # A batch that fits exactly is still admitted.
        r = await client.call("ReserveJobs", pb.ReserveJobsRequest(count=1), org)
        assert r.jobs_today == 5

    async def test_reservation_returns_the_effective_limits(self, client: Any, org: str) -> None:
        r = await client.call("ReserveJobs", pb.ReserveJobsRequest(count=1), org)
        assert (r.reserved, r.jobs_today, r.limits.tier) == (1, 1, "free")
        assert r.limits.max_active_jobs == 10 and r.limits.HasField("max_active_jobs")

    async def test_payload_over_the_plan_is_413_and_reserves_nothing(
        self, client: Any, org: str
    ) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.call(
                "ReserveJobs", pb.ReserveJobsRequest(count=1, largest_payload_bytes=65_537), org
            )
        err = errors.from_rpc_error(info.value)
        assert err.status == 413 and err.extra["limit"] == 65_536
        today = await client.call("GetDailyUsage", pb.DailyUsageRequest(), org)
        assert today.jobs_today == 0

    async def test_unlimited_still_counts(self, client: Any, org: str) -> None:
        await limit_jobs(client, org, None)
        for _ in range(3):
            await client.call("ReserveJobs", pb.ReserveJobsRequest(count=700), org)
        today = await client.call("GetDailyUsage", pb.DailyUsageRequest(), org)
        assert today.jobs_today == 2_100


class TestRefund:
    async def test_refund_frees_room_and_never_goes_negative(self, client: Any, org: str) -> None:
        await limit_jobs(client, org, 10)
        r = await client.call("ReserveJobs", pb.ReserveJobsRequest(count=10), org)
        back = await client.call("RefundJobs", pb.RefundJobsRequest(count=4, day=r.day), org)
        assert back.jobs_today == 6
        await client.call("ReserveJobs", pb.ReserveJobsRequest(count=4), org)
        back = await client.call("RefundJobs", pb.RefundJobsRequest(count=99, day=r.day), org)
        assert back.jobs_today == 0

    async def test_reset_zeroes_today(self, client: Any, org: str) -> None:
        await client.call("ReserveJobs", pb.ReserveJobsRequest(count=3), org)
        out = await client.call("ResetDailyUsage", pb.DailyUsageRequest(), org)
        assert out.jobs_today == 0


class TestUtcDay:
    async def test_a_new_utc_day_starts_from_zero(
        self, client: Any, org: str, billing: BillingApp
    ) -> None:
        await limit_jobs(client, org, 10)
        r = await client.call("ReserveJobs", pb.ReserveJobsRequest(count=10), org)
        # Yesterday's full counter (what today's becomes after UTC midnight)...
        assert billing.pool is not None
        async with maintenance_tx(billing.pool) as conn:
            await conn.execute(
                "UPDATE billing.daily_usage SET day = day - 1 WHERE organization_id = $1", org
            )
        # ... does not count against today,
        again = await client.call("ReserveJobs", pb.ReserveJobsRequest(count=10), org)
        assert again.jobs_today == 10 and again.day == r.day
        # and a late refund for yesterday goes to yesterday.
        async with maintenance_tx(billing.pool) as conn:
            yesterday = await conn.fetchval("SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text")
        await client.call("RefundJobs", pb.RefundJobsRequest(count=10, day=yesterday), org)
        today = await client.call("GetDailyUsage", pb.DailyUsageRequest(), org)
        assert today.jobs_today == 10
