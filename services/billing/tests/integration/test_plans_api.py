"""Plan assignments and limits over real gRPC: defaults, admin changes, env overrides."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest
from spooled_billing.testing import running_billing
from spooled_common import plans, rpc
from spooled_common.tenant import Tenant
from spooled_proto.spooled.internal.v1 import billing_pb2 as pb
from spooled_proto.spooled.internal.v1 import billing_pb2_grpc


async def test_unknown_org_is_free(client: Any, org: str) -> None:
    got = await client.call("GetLimits", pb.GetLimitsRequest(), org)
    assert (got.plan_tier, got.limits.tier, got.custom_limits) == ("free", "free", b"")
    assert plans.from_message(got.limits) == plans.PLANS["free"]


async def test_set_tier_then_custom_limits_then_clear(client: Any, org: str) -> None:
    got = await client.call("SetOrgPlan", pb.SetOrgPlanRequest(plan_tier="pro"), org)
    assert got.plan_tier == "pro" and got.limits.max_workers == 25
    got = await client.call(
        "SetOrgPlan",
        pb.SetOrgPlanRequest(
            set_custom_limits=True, custom_limits=b'{"max_workers": 3, "max_queues": null}'
        ),
        org,
    )
    assert got.plan_tier == "pro"
    assert orjson.loads(got.custom_limits) == {"max_workers": 3, "max_queues": None}
    assert got.limits.max_workers == 3 and not got.limits.HasField("max_queues")
    got = await client.call(
        "SetOrgPlan", pb.SetOrgPlanRequest(set_custom_limits=True, custom_limits=b""), org
    )
    assert got.custom_limits == b"" and got.limits.max_workers == 25


@pytest.mark.parametrize(
    "request_",
    [
        pb.SetOrgPlanRequest(plan_tier="gold"),
        pb.SetOrgPlanRequest(set_custom_limits=True, custom_limits=b'{"max_workers": -2}'),
        pb.SetOrgPlanRequest(set_custom_limits=True, custom_limits=b'{"bogus": 1}'),
    ],
)
async def test_bad_changes_are_400(client: Any, org: str, request_: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.call("SetOrgPlan", request_, org)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_plans(client: Any) -> None:
    got = await client.call("ListPlans", pb.ListPlansRequest())
    assert [p.tier for p in got.plans] == list(plans.TIERS)


async def test_env_overrides_reach_the_limits(
    billing_dsn: str, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOOLED_PLAN_FREE_MAX_JOBS_PER_DAY", "3")
    async with (
        running_billing(billing_dsn) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel,
    ):
        stub = billing_pb2_grpc.BillingStub(channel)
        md = rpc.call_metadata(app.settings.internal_token, Tenant(org))
        got = await stub.GetLimits(pb.GetLimitsRequest(), metadata=md)
        assert got.limits.max_jobs_per_day == 3


async def test_calls_without_the_internal_token_are_refused(billing: Any) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{billing.grpc_port}") as channel:
        stub = billing_pb2_grpc.BillingStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetLimits(pb.GetLimitsRequest(), metadata=(("x-spooled-org-id", "o"),))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
