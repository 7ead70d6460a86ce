"""Incoming webhooks through the public API (API.md §10.2), against the running suite.

Custom webhooks go through the official SDK (``ingest.custom`` with the org's token);
GitHub and Stripe deliveries are signed here exactly as those providers sign them.
Bad or replayed signatures must be 401 and create no job; a provider event delivered
twice must create one job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from spooled.errors import AuthenticationError

from .conftest import API, Db, Org, expect, unique

GITHUB_SECRET = "e2e-github-secret"
STRIPE_SECRET = "whsec_e2e-stripe-secret"


def jobs_in(db: Db, org: Org, queue: str) -> list[dict[str, Any]]:
    return db.fetch(
        "SELECT id, payload, idempotency_key FROM core.jobs "
        "WHERE organization_id = $1 AND queue_name = $2",
        org.id,
        queue,
        org=org.id,
    )


def public(org: Org) -> httpx.Client:
    """No Authorization header: the webhook routes authenticate by token or signature."""
    c = httpx.Client(base_url=org.stack.base_url + API, timeout=30)
    org._clients.append(c)
    return c


class TestCustom:
    def test_sdk_ingest_with_token_and_dedup(self, org: Org, db: Db) -> None:
        client = org.client()
        token = client.organizations.get_webhook_token().webhook_token
        assert token
        queue = unique("inbox")
        params = {"queue_name": queue, "payload": {"order": 7}, "idempotency_key": unique("evt")}
        first = client.ingest.custom(org.id, params, webhook_token=token)
        again = client.ingest.custom(org.id, params, webhook_token=token)
        assert (first.status, again.status) == ("created", "duplicate")
        assert first.job_id == again.job_id and first.queue_name == queue
        [job] = jobs_in(db, org, queue)
        assert job["id"] == first.job_id and job["payload"] == {"order": 7}
        log = client.webhooks.list_inbound_deliveries({"queue_name": queue})
        assert [(d.status, d.job_id) for d in log] == [
            ("duplicate", first.job_id),
            ("created", first.job_id),
        ]

    def test_bad_tokens_are_401_and_create_nothing(self, org: Org, db: Db) -> None:
        client = org.client()
        queue = unique("inbox")
        params = {"queue_name": queue, "payload": {}}
        with pytest.raises(AuthenticationError):
            client.ingest.custom(org.id, params, webhook_token="whk_not-the-token")
        with pytest.raises(AuthenticationError):
            client.ingest.custom(org.id, params)
        token = client.organizations.get_webhook_token().webhook_token
        # Another organization's valid token is no good here either.
        r = public(org).post(
            f"/webhooks/{org.id}-x/custom", json=params, headers={"X-Webhook-Token": token}
        )
        expect(r, 401, "UNAUTHORIZED")
        assert jobs_in(db, org, queue) == []

    def test_regenerated_token_replaces_the_old_one(self, fresh_org: Org, db: Db) -> None:
        client = fresh_org.client()
        old = client.organizations.get_webhook_token().webhook_token
        new = client.organizations.regenerate_webhook_token().webhook_token
        queue = unique("inbox")
        with pytest.raises(AuthenticationError):
            client.ingest.custom(
                fresh_org.id, {"queue_name": queue, "payload": 1}, webhook_token=old
            )
        client.ingest.custom(fresh_org.id, {"queue_name": queue, "payload": 1}, webhook_token=new)
        assert len(jobs_in(db, fresh_org, queue)) == 1


def github_headers(body: bytes, delivery: str, secret: str = GITHUB_SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={sig}",
    }


def stripe_headers(body: bytes, ts: int, secret: str = STRIPE_SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={ts},v1={sig}"}


@pytest.fixture(scope="module")
def signed_org(make_org: Any) -> Org:
    """An org with its GitHub and Stripe signing secrets configured."""
    org = make_org("e2e-wh")
    http = org.http()
    for provider, secret in (("github", GITHUB_SECRET), ("stripe", STRIPE_SECRET)):
        expect(http.put(f"/webhooks/providers/{provider}", json={"secret": secret}), 200)
    providers = {p["provider"]: p for p in expect(http.get("/webhooks/providers"), 200)}
    assert all(p["configured"] for p in providers.values())
    settings = expect(http.get(f"/organizations/{org.id}"), 200)["settings"]
    assert "github_webhook_secret" not in json.dumps(settings)
    return org


class TestGithub:
    BODY = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()

    def test_bad_signature_is_401_and_no_job(self, signed_org: Org, db: Db) -> None:
        http = public(signed_org)
        url = f"/webhooks/{signed_org.id}/github"
        delivery = unique("gh")
        wrong = github_headers(self.BODY, delivery, secret="not-the-secret")
        expect(http.post(url, content=self.BODY, headers=wrong), 401, "UNAUTHORIZED")
        tampered = self.BODY.replace(b"main", b"evil")
        headers = github_headers(self.BODY, delivery)
        expect(http.post(url, content=tampered, headers=headers), 401, "UNAUTHORIZED")
        unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
        expect(http.post(url, content=self.BODY, headers=unsigned), 401, "UNAUTHORIZED")
        rows = db.fetch(
            "SELECT id FROM core.jobs WHERE organization_id = $1 AND idempotency_key = $2",
            signed_org.id,
            f"github:{delivery}",
            org=signed_org.id,
        )
        assert rows == []

    def test_duplicate_delivery_is_one_job(self, signed_org: Org, db: Db) -> None:
        http = public(signed_org)
        delivery = unique("gh")
        url = f"/webhooks/{signed_org.id}/github"
        first = expect(
            http.post(url, content=self.BODY, headers=github_headers(self.BODY, delivery)), 200
        )
        again = expect(
            http.post(url, content=self.BODY, headers=github_headers(self.BODY, delivery)), 200
        )
        assert first["queue_name"] == "github-push"
        assert (first["status"], again["status"]) == ("created", "duplicate")
        assert first["job_id"] == again["job_id"]
        rows = db.fetch(
            "SELECT id FROM core.jobs WHERE organization_id = $1 AND idempotency_key = $2",
            signed_org.id,
            f"github:{delivery}",
            org=signed_org.id,
        )
        assert [r["id"] for r in rows] == [first["job_id"]]


class TestStripe:
    def event(self) -> bytes:
        return json.dumps(
            {
                "id": unique("evt"),
                "type": "invoice.paid",
                "data": {"object": {"id": "in_1", "amount_paid": 500}},
            }
        ).encode()

    def test_bad_and_replayed_signatures_are_401_and_no_job(self, signed_org: Org, db: Db) -> None:
        http = public(signed_org)
        url = f"/webhooks/{signed_org.id}/stripe"
        body = self.event()
        now = int(time.time())
        for headers in (
            stripe_headers(body, now, secret="whsec_wrong"),
            stripe_headers(body, now - 301),  # a correctly signed replay, too old
            {"Content-Type": "application/json", "Stripe-Signature": f"t={now}"},
            {"Content-Type": "application/json"},
        ):
            expect(http.post(url, content=body, headers=headers), 401, "UNAUTHORIZED")
        event_id = json.loads(body)["id"]
        rows = db.fetch(
            "SELECT id FROM core.jobs WHERE organization_id = $1 AND idempotency_key = $2",
            signed_org.id,
            f"stripe:{event_id}",
            org=signed_org.id,
        )
        assert rows == []

    def test_retried_event_is_one_job(self, signed_org: Org, db: Db) -> None:
        http = public(signed_org)
        url = f"/webhooks/{signed_org.id}/stripe"
        body = self.event()
        # Stripe retries with a fresh timestamp and signature; the event id stays.
        first = expect(
            http.post(url, content=body, headers=stripe_headers(body, int(time.time()) - 60)), 200
        )
        again = expect(
            http.post(url, content=body, headers=stripe_headers(body, int(time.time()))), 200
        )
        assert first["queue_name"] == "stripe-invoice-paid"
        assert (first["status"], again["status"]) == ("created", "duplicate")
        event_id = json.loads(body)["id"]
        [job] = db.fetch(
            "SELECT id, payload FROM core.jobs WHERE organization_id = $1 AND idempotency_key = $2",
            signed_org.id,
            f"stripe:{event_id}",
            org=signed_org.id,
        )
        assert job["id"] == first["job_id"] and job["payload"] == {"id": "in_1", "amount_paid": 500}
        log = signed_org.client().webhooks.list_inbound_deliveries(
            {"queue_name": "stripe-invoice-paid"}
        )
        assert [d.provider for d in log][:2] == ["stripe", "stripe"]
