"""Incoming webhooks over real gRPC into the real queue-core: verification (bad and replayed
signatures are 401 and create nothing), routing, deduplication by provider event id, the log."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from spooled_common import errors
from spooled_common.db import maintenance_tx
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_queue_core.app import QueueCoreApp
from spooled_webhooks.app import WebhooksApp
from wh_helpers import Rpc

TOKEN = "whk_test-token"
GITHUB_SECRET = "gh-secret"
STRIPE_SECRET = "whsec_stripe-secret"


@pytest.fixture
async def app(make_app: Any) -> WebhooksApp:
    return await make_app(NATS_URL="")  # type: ignore[no-any-return]


@pytest.fixture
async def api(app: WebhooksApp) -> AsyncIterator[Rpc]:
    client = Rpc(app.grpc_port)
    yield client
    await client.close()


async def jobs_of(core: QueueCoreApp, org: str) -> list[Any]:
    assert core.pool is not None
    async with maintenance_tx(core.pool) as conn:
        return list(
            await conn.fetch(
                "SELECT id, queue_name, payload::text AS payload, idempotency_key, priority "
                "FROM core.jobs WHERE organization_id = $1 ORDER BY created_at",
                org,
            )
        )


def ingest(provider: str, body: bytes, headers: dict[str, str], credential: str) -> Any:
    return pb.IngestWebhookRequest(
        provider=provider,
        body=body,
        headers=headers,
        credential=credential,
        max_payload_bytes=64 * 1024,
    )


def github_sig(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_sig(body: bytes, ts: int, secret: str = STRIPE_SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class TestCustom:
    async def test_token_checked_then_job_created_and_logged(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        body = orjson.dumps(
            {"queue_name": "inbox", "payload": {"a": 1}, "event_type": "order.paid", "priority": 5}
        )
        for bad in ({}, {"x-webhook-token": "wrong"}, {"x-webhook-token": TOKEN + "x"}):
            with pytest.raises(errors.Unauthorized):
                await api.call(org, "IngestWebhook", ingest("custom", body, bad, TOKEN))
        with pytest.raises(errors.Unauthorized, match="not configured"):
            await api.call(
                org, "IngestWebhook", ingest("custom", body, {"x-webhook-token": TOKEN}, "")
            )
        assert await jobs_of(queue_core, org) == []

        done = await api.call(
            org, "IngestWebhook", ingest("custom", body, {"x-webhook-token": TOKEN}, TOKEN)
        )
        assert done.status == "created" and done.queue_name == "inbox"
        [job] = await jobs_of(queue_core, org)
        assert job["id"] == done.job_id and orjson.loads(job["payload"]) == {"a": 1}
        assert job["priority"] == 5
        log = await api.call(org, "ListInboundDeliveries", pb.ListInboundDeliveriesRequest())
        [entry] = log.deliveries
        assert (entry.provider, entry.event_type, entry.matched_queue, entry.job_id) == (
            "custom",
            "order.paid",
            "inbox",
            done.job_id,
        )

    async def test_idempotency_key_deduplicates(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        body = orjson.dumps({"queue_name": "inbox", "payload": 1, "idempotency_key": "evt-1"})
        headers = {"x-webhook-token": TOKEN}
        first = await api.call(org, "IngestWebhook", ingest("custom", body, headers, TOKEN))
        second = await api.call(org, "IngestWebhook", ingest("custom", body, headers, TOKEN))
        assert (first.status, second.status) == ("created", "duplicate")
        assert first.job_id == second.job_id
        assert len(await jobs_of(queue_core, org)) == 1
        dupes = await api.call(
            org, "ListInboundDeliveries", pb.ListInboundDeliveriesRequest(status="duplicate")
        )
        assert [d.job_id for d in dupes.deliveries] == [first.job_id]

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"payload": 1}, "queue_name"),
            ({"queue_name": "system", "payload": 1}, "reserved"),
            ({"queue_name": "../x", "payload": 1}, "queue_name"),
            ({"queue_name": "q"}, "payload"),
            ({"queue_name": "q", "payload": 1, "priority": 101}, "priority"),
            ({"queue_name": "q", "payload": 1, "event_type": "a b"}, "event_type"),
            ({"queue_name": "q", "payload": 1, "surprise": True}, "surprise"),
        ],
    )
    async def test_bad_bodies_are_400(
        self, api: Rpc, queue_core: QueueCoreApp, org: str, doc: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(errors.ValidationError) as exc:
            await api.call(
                org,
                "IngestWebhook",
                ingest("custom", orjson.dumps(doc), {"x-webhook-token": TOKEN}, TOKEN),
            )
        assert message in exc.value.message
        assert await jobs_of(queue_core, org) == []

    async def test_payload_cap(self, api: Rpc, org: str) -> None:
        body = orjson.dumps({"queue_name": "q", "payload": "x" * 70_000})
        with pytest.raises(errors.PayloadTooLarge):
            await api.call(
                org, "IngestWebhook", ingest("custom", body, {"x-webhook-token": TOKEN}, TOKEN)
            )


class TestGithub:
    BODY = orjson.dumps({"ref": "refs/heads/main", "repository": {"full_name": "a/b"}})

    def headers(self, body: bytes, delivery: str = "d-1", sig: str | None = None) -> dict[str, str]:
        return {
            "x-github-event": "push",
            "x-github-delivery": delivery,
            "x-hub-signature-256": sig if sig is not None else github_sig(body),
        }

    async def test_bad_signatures_are_401_and_create_nothing(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        tampered = self.BODY.replace(b"main", b"evil")
        for body, headers in (
            (self.BODY, self.headers(self.BODY, sig="")),
            (self.BODY, self.headers(self.BODY, sig=github_sig(self.BODY, "wrong"))),
            (tampered, self.headers(self.BODY)),
        ):
            with pytest.raises(errors.Unauthorized):
                await api.call(org, "IngestWebhook", ingest("github", body, headers, GITHUB_SECRET))
        with pytest.raises(errors.Unauthorized):  # no secret configured
            await api.call(
                org, "IngestWebhook", ingest("github", self.BODY, self.headers(self.BODY), "")
            )
        assert await jobs_of(queue_core, org) == []

    async def test_routed_and_redelivery_is_one_job(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        req = ingest("github", self.BODY, self.headers(self.BODY), GITHUB_SECRET)
        first = await api.call(org, "IngestWebhook", req)
        again = await api.call(org, "IngestWebhook", req)
        assert first.queue_name == "github-push"
        assert (first.status, again.status) == ("created", "duplicate")
        [job] = await jobs_of(queue_core, org)
        assert job["idempotency_key"] == "github:d-1"
        assert orjson.loads(job["payload"]) == orjson.loads(self.BODY)


class TestStripe:
    BODY = orjson.dumps(
        {"id": "evt_123", "type": "invoice.paid", "data": {"object": {"id": "in_1", "total": 5}}}
    )

    async def test_bad_and_replayed_signatures_are_401(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        now = int(time.time())
        cases = [
            stripe_sig(self.BODY, now, "wrong"),
            f"t={now}",
            "v1=abc",
            stripe_sig(self.BODY, now - 301),  # correctly signed, too old: a replay
            stripe_sig(self.BODY, now + 400),
        ]
        for sig in cases:
            with pytest.raises(errors.Unauthorized):
                await api.call(
                    org,
                    "IngestWebhook",
                    ingest("stripe", self.BODY, {"stripe-signature": sig}, STRIPE_SECRET),
                )
        assert await jobs_of(queue_core, org) == []

    async def test_routed_deduplicated_and_rotation_tolerant(
        self, api: Rpc, queue_core: QueueCoreApp, org: str
    ) -> None:
        ts = int(time.time()) - 200
        rotated = f"{stripe_sig(self.BODY, ts, 'old-secret')},v1={stripe_sig(self.BODY, ts).split('v1=')[1]}"
        first = await api.call(
            org,
            "IngestWebhook",
            ingest("stripe", self.BODY, {"stripe-signature": rotated}, STRIPE_SECRET),
        )
        again = await api.call(
            org,
            "IngestWebhook",
            ingest(
                "stripe",
                self.BODY,
                {"stripe-signature": stripe_sig(self.BODY, int(time.time()))},
                STRIPE_SECRET,
            ),
        )
        assert first.queue_name == "stripe-invoice-paid"
        assert (first.status, again.status) == ("created", "duplicate")
        [job] = await jobs_of(queue_core, org)
        assert job["idempotency_key"] == "stripe:evt_123"
        assert orjson.loads(job["payload"]) == {"id": "in_1", "total": 5}
        log = await api.call(
            org,
            "ListInboundDeliveries",
            pb.ListInboundDeliveriesRequest(queue_name="stripe-invoice-paid"),
        )
        assert [d.status for d in log.deliveries] == ["duplicate", "created"]
