"""Plan limits at every entry point, through the public API of the running suite.

Each test gives its organization small ``custom_limits`` through the admin API
(billing is the owner; the gateway keeps a copy) and then walks into them:
REST create and bulk, gRPC Enqueue, DLQ retry, cron firing and manual trigger,
incoming webhooks, and the resource caps (queues, workers, API keys,
schedules, outgoing webhooks), plus the plan's payload size. Over a limit the
SDK sees QuotaExceededError (429 ``QUOTA_EXCEEDED``, never a RateLimitError).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from spooled import SpooledClient
from spooled.errors import PayloadTooLargeError, QuotaExceededError, RateLimitError
from spooled.grpc import SpooledGrpcClient

from .conftest import API, Db, Org, claim, expect, unique, wait_for


def set_limits(org: Org, **custom: Any) -> dict[str, Any]:
    """Give the org these per-org overrides (on top of its enterprise tier)."""
    r = httpx.patch(
        f"{org.stack.base_url}{API}/admin/organizations/{org.id}",
        json={"custom_limits": custom},
        headers={"X-Admin-Key": org.stack.admin_key},
        timeout=30,
    )
    return dict(expect(r, 200))


def quota(resp: httpx.Response, resource: str) -> dict[str, Any]:
    doc = expect(resp, 429, "QUOTA_EXCEEDED")
    assert doc["error"] == "limit_exceeded" and doc["resource"] == resource, doc
    assert {"current", "limit", "plan"} <= set(doc), doc
    assert "retry-after" not in resp.headers
    return dict(doc)


def jobs_of(db: Db, org: Org, where: str = "") -> int:
    return int(
        db.fetchval(
            f"SELECT count(*) FROM core.jobs WHERE organization_id = $1 {where}", org.id, org=org.id
        )
    )


class TestJobs:
    def test_rest_create_active_jobs_cap(self, fresh_org: Org, db: Db) -> None:
        set_limits(fresh_org, max_active_jobs=2)
        client, q = fresh_org.client(), unique("cap")
        for _ in range(2):
            client.jobs.create({"queue_name": q, "payload": {}})
        with pytest.raises(QuotaExceededError) as info:
            client.jobs.create({"queue_name": q, "payload": {}})
        assert "limit reached" in str(info.value)
        doc = quota(
            fresh_org.http().post("/jobs", json={"queue_name": q, "payload": {}}), "active_jobs"
        )
        assert (doc["current"], doc["limit"]) == (2, 2)
        assert jobs_of(db, fresh_org) == 2
        # A claimed-and-completed job frees its slot.
        [job] = claim(client, q)
        client.jobs.complete(job.id, {"worker_id": "e2e-worker", "lease_id": job.lease_id})
        client.jobs.create({"queue_name": q, "payload": {}})

    def test_rest_bulk_daily_cap_is_all_or_nothing(self, fresh_org: Org, db: Db) -> None:
        set_limits(fresh_org, max_jobs_per_day=5)
        http, q = fresh_org.http(), unique("bulk")
        body = {"queue_name": q, "jobs": [{"payload": {"i": i}} for i in range(3)]}
        assert len(expect(http.post("/jobs/bulk", json=body), 200)["succeeded"]) == 3
        doc = quota(http.post("/jobs/bulk", json=body), "jobs_per_day")
        assert (doc["current"], doc["limit"]) == (3, 5)
        assert jobs_of(db, fresh_org) == 3
        usage = expect(http.get("/organizations/usage"), 200)
        assert usage["usage"]["jobs_today"]["current"] == 3

    def test_grpc_enqueue_is_resource_exhausted_quota(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_jobs_per_day=1)
        g = SpooledGrpcClient(
            address=fresh_org.stack.grpc_address, api_key=fresh_org.api_key, timeout=15
        )
        try:
            assert g.wait_for_ready(10)
            q = unique("gq")
            assert g.queue.enqueue(q, {"n": 1}).created
            with pytest.raises(QuotaExceededError) as info:
                g.queue.enqueue(q, {"n": 2})
            # QuotaExceededError subclasses RateLimitError in the SDK; the exact type
            # says the SDK read "limit reached" without a retry-after trailer.
            assert type(info.value) is QuotaExceededError
            assert "limit reached" in str(info.value)
        finally:
            g.close()

    def test_payload_over_the_plan_is_413(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_payload_size_bytes=1_000)
        client = fresh_org.client()
        with pytest.raises(PayloadTooLargeError):
            client.jobs.create({"queue_name": unique("big"), "payload": {"x": "y" * 2_000}})
        doc = expect(
            fresh_org.http().post(
                "/jobs", json={"queue_name": unique("big"), "payload": {"x": "y" * 2_000}}
            ),
            413,
            "PAYLOAD_TOO_LARGE",
        )
        assert doc["limit"] == 1_000 and doc["error"] == "payload_too_large"

    def test_dlq_retry_is_admitted_like_new_jobs(self, fresh_org: Org, db: Db) -> None:
        client, q = fresh_org.client(), unique("dlq")
        for _ in range(2):
            job_id = client.jobs.create({"queue_name": q, "payload": {}, "max_retries": 0}).id
            [job] = claim(client, q)
            assert job.id == job_id
            client.jobs.fail(
                job_id, {"worker_id": "e2e-worker", "error": "x", "lease_id": job.lease_id}
            )
        set_limits(fresh_org, max_jobs_per_day=3)
        quota(fresh_org.http().post("/jobs/dlq/retry", json={}), "jobs_per_day")
        assert jobs_of(db, fresh_org, "AND status = 'deadletter'") == 2
        set_limits(fresh_org, max_jobs_per_day=4)
        retried = expect(fresh_org.http().post("/jobs/dlq/retry", json={}), 200)
        assert retried["retried_count"] == 2

    def test_idempotent_replay_at_the_limit_is_still_answered(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_jobs_per_day=1)
        client, key = fresh_org.client(), unique("idem")
        first = client.jobs.create(
            {"queue_name": unique("i"), "payload": {}, "idempotency_key": key}
        )
        again = client.jobs.create(
            {"queue_name": unique("i"), "payload": {}, "idempotency_key": key}
        )
        assert again.id == first.id and again.created is False


class TestSchedulesAndWebhooks:
    def test_cron_firing_and_manual_trigger_hit_the_daily_cap(self, fresh_org: Org, db: Db) -> None:
        client, q = fresh_org.client(), unique("cron")
        sched = client.schedules.create(
            {
                "name": unique("every-second"),
                "cron_expression": "* * * * * *",
                "queue_name": q,
                "payload_template": {"tick": True},
            }
        )
        wait_for(lambda: jobs_of(db, fresh_org) >= 1, timeout=20, desc="a cron job")
        created = jobs_of(db, fresh_org)
        set_limits(fresh_org, max_jobs_per_day=created)  # no room left today

        def refused_runs() -> list[Any]:
            runs = client.schedules.get_history(sched.id)
            return [r for r in runs if r.status == "failed" and "limit" in (r.error_message or "")]

        runs = wait_for(refused_runs, timeout=20, desc="a refused cron run")
        assert "jobs per day limit reached" in (runs[0].error_message or "")
        time.sleep(1.5)
        client.schedules.pause(sched.id)
        assert jobs_of(db, fresh_org) <= created + 1  # at most one raced the new limit
        r = fresh_org.http().post(f"/schedules/{sched.id}/trigger")
        quota(r, "jobs_per_day")

    def test_incoming_webhook_hits_the_daily_cap(self, fresh_org: Org, db: Db) -> None:
        client, q = fresh_org.client(), unique("inbox")
        token = client.organizations.get_webhook_token().webhook_token
        set_limits(fresh_org, max_jobs_per_day=1)
        url = f"{fresh_org.stack.base_url}{API}/webhooks/{fresh_org.id}/custom"
        headers = {"X-Webhook-Token": token}
        ok = httpx.post(url, json={"queue_name": q, "payload": {"n": 1}}, headers=headers)
        expect(ok, {200, 201})
        over = httpx.post(url, json={"queue_name": q, "payload": {"n": 2}}, headers=headers)
        quota(over, "jobs_per_day")
        assert jobs_of(db, fresh_org) == 1


class TestResourceCaps:
    def test_queues(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_queues=2)
        http = fresh_org.http()
        for q in ("qa", "qb", "qa"):
            expect(http.post("/jobs", json={"queue_name": q, "payload": {}}), 201)
        quota(http.post("/jobs", json={"queue_name": "qc", "payload": {}}), "queues")
        quota(http.put("/queues/qd/config", json={"max_retries": 1}), "queues")

    def test_workers(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_workers=1)
        http = fresh_org.http()
        body = {"queue_name": "w", "hostname": "h", "worker_id": unique("w")}
        expect(http.post("/workers/register", json=body), {200, 201})
        expect(http.post("/workers/register", json=body), {200, 201})  # same worker again
        quota(http.post("/workers/register", json={**body, "worker_id": unique("w2")}), "workers")

    def test_api_keys(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_api_keys=1)
        quota(fresh_org.http().post("/api-keys", json={"name": "second"}), "api_keys")

    def test_schedules(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_schedules=1)
        body = {"cron_expression": "0 0 * * * *", "queue_name": "s", "payload_template": {}}
        http = fresh_org.http()
        expect(http.post("/schedules", json={**body, "name": "one"}), 201)
        quota(http.post("/schedules", json={**body, "name": "two"}), "schedules")

    def test_outgoing_webhooks(self, fresh_org: Org) -> None:
        set_limits(fresh_org, max_webhooks=1)
        body = {"url": "https://hooks.example.com/a", "events": ["job.completed"]}
        http = fresh_org.http()
        expect(http.post("/outgoing-webhooks", json={**body, "name": "one"}), 201)
        quota(http.post("/outgoing-webhooks", json={**body, "name": "two"}), "webhooks")

    def test_workflows(self, fresh_org: Org, db: Db) -> None:
        one = {"name": "wf", "jobs": [{"key": "a", "queue_name": "wf", "payload": {}}]}
        http = fresh_org.http()
        set_limits(fresh_org, max_workflows=1)
        expect(http.post("/workflows", json=one), 200)
        quota(http.post("/workflows", json=one), "workflows")
        # 0 turns the feature off (the built-in free tier): 403, nothing stored.
        set_limits(fresh_org, max_workflows=0)
        doc = expect(http.post("/workflows", json=one), 403, "FEATURE_DISABLED")
        assert doc["feature"] == "workflows", doc
        assert jobs_of(db, fresh_org) == 1


def test_admin_plans_reflect_the_environment_overrides(stack: Any) -> None:
    r = httpx.get(
        f"{stack.base_url}{API}/admin/plans", headers={"X-Admin-Key": stack.admin_key}, timeout=30
    )
    free = next(p for p in expect(r, 200) if p["tier"] == "free")
    # tests/e2e/conftest.py lifts the free tier with SPOOLED_PLAN_FREE_* variables.
    assert free["max_jobs_per_day"] is None and free["rate_limit_burst"] == 100_000


def test_sdk_sees_quota_not_rate_limit(fresh_org: Org) -> None:
    set_limits(fresh_org, max_jobs_per_day=0)
    client: SpooledClient = fresh_org.client()
    with pytest.raises(RateLimitError) as info:
        client.jobs.create({"queue_name": unique("z"), "payload": {}})
    # A quota, not a rate limit: no Retry-After, so the SDK never retries it.
    assert type(info.value) is QuotaExceededError
