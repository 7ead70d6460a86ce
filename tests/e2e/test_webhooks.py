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
from spooled_testing import reliability
from spooled_testing.receiver import (
    Received,
    Reply,
    WebhookReceiver,
    spooled_signature_ok,
    standard_signature_ok,
    whsec,
)

from .conftest import WORKER, claim, expect, unique, wait_for

_SSRF_REFUSED: set[str] = set()

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
            # The same places spelled as numbers the C resolver also accepts.
            "http://2130706433:{port}/hook",  # 127.0.0.1, decimal
            "http://0x7f000001:{port}/hook",  # hexadecimal
            "http://0177.0.0.1:{port}/hook",  # octal first octet
            "http://127.1:{port}/hook",  # short form
            "http://2852039166/latest/meta-data/",  # 169.254.169.254, decimal
            "http://[::ffff:7f00:1]:{port}/hook",  # IPv4-mapped loopback, hex form
            "http://[fe80::1]/",  # IPv6 link-local
            "http://[fd00:ec2::254]/",  # IPv6 unique-local (AWS metadata)
            "http://[2002:a9fe:a9fe::1]/",  # 6to4 wrapping 169.254.169.254
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://100.64.0.1/",  # carrier-grade NAT
            "http://0.0.0.0:{port}/hook",
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
        stored = [h["url"] for h in expect(http.get("/outgoing-webhooks"), 200)]
        assert url.format(port=receiver.port) not in stored
        _SSRF_REFUSED.add(url)
        reliability.record(
            "security",
            "SSRF: outgoing webhook URLs to private, loopback, link-local and metadata "
            "addresses (IPv4, IPv6, mapped, decimal/hex/octal forms)",
            "400 VALIDATION_ERROR at creation, nothing stored; the delivery path re-checks "
            "the resolved address and pins it (DNS rebinding: test_webhooks_ssrf.py)",
            f"{len(_SSRF_REFUSED)} URLs refused",
            requests=len(_SSRF_REFUSED),
        )

    def test_redirect_to_a_private_address_is_not_followed(
        self, client: SpooledClient, http: httpx.Client, receiver: WebhookReceiver
    ) -> None:
        receiver.script("/hop", [Reply(302, {"Location": "http://169.254.169.254/latest/"})] * 20)
        hook = expect(
            http.post(
                "/outgoing-webhooks",
                json={"name": "hop", "url": receiver.url("/hop"), "events": ["job.completed"]},
            ),
            201,
        )
        try:
            job_id = run_job(client, unique("wh-hop"))

            def failed_302() -> Any:
                rows = expect(http.get(f"/outgoing-webhooks/{hook['id']}/deliveries"), 200)
                return [d for d in rows if d["status_code"] == 302 and d["attempts"] >= 2]

            [delivery] = wait_for(failed_302, timeout=60, desc="a delivery failed with 302")
            assert delivery["payload"]["data"]["job_id"] == job_id
            # Every request that arrived was to the endpoint itself: the Location was
            # never followed (it would have been a second request, to 169.254.169.254).
            assert {r.path for r in receiver.received()} == {"/hop"}
            assert delivery["status"] in {"pending", "failed"} and "302" in (
                delivery["error"] or ""
            )
        finally:
            expect(http.delete(f"/outgoing-webhooks/{hook['id']}"), 204)
        reliability.record(
            "security",
            "SSRF: webhook receiver redirects to 169.254.169.254",
            "the redirect is not followed; the delivery fails with HTTP 302 and is retried",
            f"{delivery['attempts']} attempts, each answered 302, none followed",
            requests=int(delivery["attempts"]),
        )

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
