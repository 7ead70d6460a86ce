"""Outgoing webhooks through the public API (API.md §10.1, §3.7), against the running suite.

The official SDK manages endpoints; jobs run through the REST worker API; a real HTTP
receiver in this process (127.0.0.1, allow-listed by the stack) records what arrives and
checks both signature schemes. The stack retries within seconds (conftest _WEBHOOK_ENV).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from spooled import SpooledClient
from spooled.errors import NotFoundError, ValidationError
from spooled_testing.receiver import (
    Received,
    WebhookReceiver,
    spooled_signature_ok,
    standard_signature_ok,
    whsec,
)

from .conftest import WORKER, claim, expect, unique, wait_for

SECRET = "e2e-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def run_job(client: SpooledClient, queue: str, *, fail: bool = False, **fields: Any) -> str:
    """Create, claim and complete (or fail for good) one job through the REST API."""
    job_id = client.jobs.create(
        {"queue_name": queue, "payload": {"n": 1}, "max_retries": 0, **fields}
    ).id
    [job] = claim(client, queue)
    assert job.id == job_id
    if fail:
        client.jobs.fail(job_id, {"worker_id": WORKER, "error": "boom", "lease_id": job.lease_id})
    else:
        client.jobs.complete(
            job_id, {"worker_id": WORKER, "lease_id": job.lease_id, "result": {"ok": True}}
        )
    return job_id


def by_job(reqs: list[Received], event: str) -> dict[str, Received]:
    out = {}
    for r in reqs:
        body = r.json()
        if body.get("event") == event:
            out[body["data"]["job_id"]] = r
    return out


class TestEndpoints:
    def test_sdk_crud_and_test_send(self, client: SpooledClient, receiver: WebhookReceiver) -> None:
        hook = client.webhooks.create(
            {
                "name": unique("hook"),
                "url": receiver.url(),
                "events": ["job.completed"],
                "secret": SECRET,
            }
        )
        assert hook.enabled and hook.failure_count == 0 and hook.format == "json"
        assert hook.id in [w.id for w in client.webhooks.list()]
        updated = client.webhooks.update(hook.id, {"events": ["job.completed", "job.failed"]})
        assert updated.events == ["job.completed", "job.failed"]
        result = client.webhooks.test(hook.id)
        assert result.success and result.status_code == 200
        [sent] = receiver.received()
        assert sent.json()["event"] == "webhook.test"
        assert spooled_signature_ok(SECRET, sent) and standard_signature_ok(whsec(SECRET), sent)
        client.webhooks.delete(hook.id)
        with pytest.raises(NotFoundError):
            client.webhooks.get(hook.id)

    def test_events_are_delivered_signed(
        self, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        queue = unique("wh-events")
        hook = client.webhooks.create(
            {
                "name": unique("hook"),
                "url": receiver.url("/events"),
                "events": ["job.created", "job.started", "job.completed"],
                "secret": SECRET,
            }
        )
        try:
            job_id = run_job(client, queue)
            got = receiver.wait_count(3, timeout=30, path="/events")
            assert sorted(r.headers["x-spooled-event"] for r in got) == [
                "job.completed",
                "job.created",
                "job.started",
            ]
            for r in got:
                body = r.json()
                assert body["data"]["job_id"] == job_id and body["id"] == r.headers["webhook-id"]
                assert spooled_signature_ok(SECRET, r)
                assert standard_signature_ok(whsec(SECRET), r)
            done = next(r for r in got if r.headers["x-spooled-event"] == "job.completed")
            assert done.json()["data"]["result"] == {"ok": True}

            def recorded() -> Any:
                found = client.webhooks.get_deliveries(hook.id)
                return found if all(d.status == "success" for d in found) else None

            # The receiver answers before the service records the answer.
            deliveries = wait_for(recorded, timeout=15, desc="deliveries recorded as sent")
            assert sorted(d.event for d in deliveries) == [
                "job.completed",
                "job.created",
                "job.started",
            ]
            assert all(d.attempts == 1 for d in deliveries)
        finally:
            client.webhooks.delete(hook.id)

    def test_other_orgs_see_nothing(
        self, make_org: Any, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        hook = client.webhooks.create(
            {"name": unique("hook"), "url": receiver.url(), "events": ["job.completed"]}
        )
        try:
            other = make_org().client()
            assert other.webhooks.list() == []
            with pytest.raises(NotFoundError):
                other.webhooks.get(hook.id)
            run_job(other, unique("theirs"))
            run_job(client, unique("mine"))
            receiver.wait_count(1, timeout=30)
            time.sleep(0.5)
            assert len(receiver.received()) == 1
        finally:
            client.webhooks.delete(hook.id)


class TestRetries:
    def test_three_500s_then_200_arrives_on_the_fourth_attempt(
        self, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        receiver.script("/flaky", [500, 500, 500, 200])
        hook = client.webhooks.create(
            {
                "name": unique("hook"),
                "url": receiver.url("/flaky"),
                "events": ["job.completed"],
                "secret": SECRET,
            }
        )
        try:
            run_job(client, unique("wh-retry"))
            got = receiver.wait_count(4, timeout=45, path="/flaky")
            assert [r.headers["x-spooled-delivery-attempt"] for r in got] == ["1", "2", "3", "4"]
            assert len({r.headers["webhook-id"] for r in got}) == 1
            assert all(spooled_signature_ok(SECRET, r) for r in got)

            def succeeded() -> Any:
                [d] = client.webhooks.get_deliveries(hook.id)
                return d if d.status == "success" else None

            d = wait_for(succeeded, timeout=15, desc="the delivery to succeed")
            assert d.attempts == 4 and d.status_code == 200
            assert client.webhooks.get(hook.id).failure_count == 0
        finally:
            client.webhooks.delete(hook.id)

    def test_410_disables_the_endpoint(
        self, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        receiver.script("/gone", [410])
        hook = client.webhooks.create(
            {"name": unique("hook"), "url": receiver.url("/gone"), "events": ["job.completed"]}
        )
        try:
            queue = unique("wh-gone")
            run_job(client, queue)

            def disabled() -> Any:
                w = client.webhooks.get(hook.id)
                return w if not w.enabled else None

            w = wait_for(disabled, timeout=30, desc="the endpoint to be disabled")
            assert w.last_status == "auto_disabled"
            [d] = client.webhooks.get_deliveries(hook.id)
            assert d.status == "failed" and d.status_code == 410
            run_job(client, queue)
            time.sleep(1.0)  # time enough for a (wrong) delivery to the disabled endpoint
            assert len(receiver.received("/gone")) == 1
        finally:
            client.webhooks.delete(hook.id)


class TestSsrf:
    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:{port}/hook",  # resolves to loopback; only 127.0.0.1 is listed
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:{port}/hook",
            "http://10.0.0.1/hook",
            "http://127.0.0.2:{port}/hook",
            "http://[::ffff:169.254.169.254]/",
        ],
    )
    def test_private_destinations_are_refused(
        self, http: httpx.Client, receiver: WebhookReceiver, url: str
    ) -> None:
        r = http.post(
            "/outgoing-webhooks",
            json={"name": "x", "url": url.format(port=receiver.port), "events": ["job.completed"]},
        )
        doc = expect(r, 400, "VALIDATION_ERROR")
        assert doc["message"].startswith("url:")

    def test_sdk_sees_a_validation_error(self, client: SpooledClient) -> None:
        with pytest.raises(ValidationError):
            client.webhooks.create(
                {"name": "x", "url": "http://169.254.169.254/", "events": ["job.completed"]}
            )

    def test_completion_webhook_to_loopback_name_is_never_called(
        self, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        queue = unique("wh-ssrf")
        refused = run_job(client, queue, completion_webhook=receiver.url("/x", host="localhost"))
        allowed = run_job(client, queue, completion_webhook=receiver.url("/ok"))
        [got] = receiver.wait_count(1, timeout=30)
        assert got.path == "/ok" and got.json()["job_id"] == allowed
        assert refused != allowed and receiver.received("/x") == []


class TestCompletionWebhook:
    def test_success_and_terminal_failure(
        self, client: SpooledClient, receiver: WebhookReceiver
    ) -> None:
        queue = unique("wh-done")
        ok = run_job(
            client,
            queue,
            completion_webhook=receiver.url("/done"),
            completion_webhook_secret=SECRET,
        )
        bad = run_job(client, queue, fail=True, completion_webhook=receiver.url("/done"))
        got = by_key(receiver.wait_count(2, timeout=30, path="/done"))
        assert got[ok].json() == {
            "job_id": ok,
            "queue_name": queue,
            "status": "completed",
            "result": {"ok": True},
        }
        assert got[ok].headers["x-spooled-event"] == "job.completed"
        assert spooled_signature_ok(SECRET, got[ok])
        assert got[bad].json()["status"] == "deadletter" and got[bad].json()["error"] == "boom"
        assert got[bad].headers["x-spooled-event"] == "job.failed"


def by_key(reqs: list[Received]) -> dict[str, Received]:
    return {r.json()["job_id"]: r for r in reqs}
