"""Outgoing deliveries end to end inside the service: the real queue-core (in this
process) writes outbox events, its relay publishes them to the real NATS, the
durable consumer fans them out into Postgres, the dispatcher POSTs them to a
real HTTP receiver on 127.0.0.1 (allow-listed), and we read what arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import nats
import orjson
import pytest
from spooled_common.db import maintenance_tx
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_queue_core.app import QueueCoreApp
from spooled_testing.nats import NatsServer
from spooled_testing.receiver import (
    Reply,
    WebhookReceiver,
    spooled_signature_ok,
    standard_signature_ok,
    whsec,
)
from spooled_webhooks.events import wire
from wh_helpers import Rpc, run_job, until_received, wait_until

SECRET = "s3cret-for-tests"


async def endpoint(
    app: Any, org: str, url: str, events: list[str], **kw: Any
) -> pb.OutgoingWebhook:
    api = Rpc(app.grpc_port)
    try:
        return await api.call(
            org,
            "CreateWebhook",
            pb.CreateWebhookRequest(name="hook", url=url, events=events, enabled=True, **kw),
        )
    finally:
        await api.close()


async def delivery_rows(pool: asyncpg.Pool, webhook_id: str) -> list[asyncpg.Record]:
    async with maintenance_tx(pool) as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM webhooks.deliveries WHERE webhook_id = $1 ORDER BY created_at",
                webhook_id,
            )
        )


async def endpoint_row(pool: asyncpg.Pool, webhook_id: str) -> asyncpg.Record:
    async with maintenance_tx(pool) as conn:
        return await conn.fetchrow("SELECT * FROM webhooks.endpoints WHERE id = $1", webhook_id)


class TestSignedDelivery:
    async def test_event_arrives_signed_both_ways(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        app = await make_app()
        hook = await endpoint(
            app, org, receiver.url(), ["job.created", "job.completed"], secret=SECRET
        )
        job_id = await run_job(queue_core, org, "emails")
        got = await until_received(receiver, 2)
        by_event = {r.headers["x-spooled-event"]: r for r in got}
        assert set(by_event) == {"job.created", "job.completed"}
        done = by_event["job.completed"]
        body = done.json()
        assert body["event"] == "job.completed"
        assert body["id"] == done.headers["webhook-id"] == done.headers["x-spooled-delivery-id"]
        assert body["data"]["job_id"] == job_id
        assert body["data"]["queue_name"] == "emails"
        assert body["data"]["result"] == {"ok": 1}
        assert body["created_at"].endswith("Z")
        assert done.headers["x-spooled-delivery-attempt"] == "1"
        assert done.headers["user-agent"].startswith("Spooled-OutgoingWebhook/")
        assert spooled_signature_ok(SECRET, done)
        assert standard_signature_ok(whsec(SECRET), done)
        assert not spooled_signature_ok("other-secret", done)

        async def recorded() -> Any:
            rows = await delivery_rows(app.pool, hook.id)
            return len(rows) == 2 and {r["status"] for r in rows} == {"success"}

        await wait_until(recorded, 10, "both deliveries recorded as sent")

    async def test_no_secret_means_unsigned(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        app = await make_app()
        await endpoint(app, org, receiver.url(), ["job.completed"])
        await run_job(queue_core, org)
        [r] = await until_received(receiver, 1)
        assert "x-spooled-signature" not in r.headers
        assert "webhook-signature" not in r.headers
        assert r.headers["webhook-id"]

    async def test_other_orgs_and_unsubscribed_events_are_not_sent(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        app = await make_app()
        await endpoint(app, org, receiver.url(), ["job.failed"])
        await run_job(queue_core, org)  # completes: not subscribed
        await run_job(queue_core, f"{org}-other", fail=True)  # another org's failure
        mine = await run_job(queue_core, org, fail=True)
        [r] = await until_received(receiver, 1)
        assert r.json()["data"]["job_id"] == mine
        await asyncio.sleep(0.5)
        assert len(receiver.received()) == 1

    async def test_deadletter_is_also_job_deadlettered(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        app = await make_app()
        await endpoint(app, org, receiver.url(), ["job.failed", "job.deadlettered"])
        await run_job(queue_core, org, fail=True)
        got = await until_received(receiver, 2)
        assert sorted(r.headers["x-spooled-event"] for r in got) == [
            "job.deadlettered",
            "job.failed",
        ]
        assert len({r.headers["webhook-id"] for r in got}) == 2
        assert all(r.json()["data"]["status"] == "deadletter" for r in got)


class TestCompletionWebhook:
    async def test_completed_and_failed_jobs_call_their_own_url(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        await make_app()
        ok = await run_job(
            queue_core,
            org,
            completion_webhook=receiver.url("/done"),
            completion_webhook_secret=SECRET,
        )
        bad = await run_job(queue_core, org, fail=True, completion_webhook=receiver.url("/done"))
        got = await until_received(receiver, 2)
        by_job = {r.json()["job_id"]: r for r in got}
        assert by_job[ok].json() == {
            "job_id": ok,
            "queue_name": "q",
            "status": "completed",
            "result": {"ok": 1},
        }
        assert by_job[ok].headers["x-spooled-event"] == "job.completed"
        assert spooled_signature_ok(SECRET, by_job[ok])
        assert standard_signature_ok(whsec(SECRET), by_job[ok])
        assert by_job[bad].json() == {
            "job_id": bad,
            "queue_name": "q",
            "status": "deadletter",
            "error": "boom",
        }
        assert "x-spooled-signature" not in by_job[bad].headers

    async def test_secret_never_reaches_endpoints(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        app = await make_app()
        await endpoint(app, org, receiver.url("/org"), ["job.completed"])
        await run_job(
            queue_core,
            org,
            completion_webhook=receiver.url("/done"),
            completion_webhook_secret=SECRET,
        )
        [r] = await until_received(receiver, 1, path="/org")
        assert SECRET.encode() not in r.body
        assert r.json()["data"]["completion_webhook"] == receiver.url("/done")


class TestRetries:
    async def test_fourth_attempt_delivers_after_three_500s(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        receiver.script("/flaky", [500, 500, 500, 200])
        app = await make_app()
        hook = await endpoint(app, org, receiver.url("/flaky"), ["job.completed"], secret=SECRET)
        await run_job(queue_core, org)
        got = await until_received(receiver, 4)
        assert [r.headers["x-spooled-delivery-attempt"] for r in got] == ["1", "2", "3", "4"]
        assert len({r.headers["webhook-id"] for r in got}) == 1
        assert len({r.body for r in got}) == 1
        assert all(spooled_signature_ok(SECRET, r) for r in got)

        async def succeeded() -> Any:
            rows = await delivery_rows(app.pool, hook.id)
            return rows if rows and rows[0]["status"] == "success" else None

        [row] = await wait_until(succeeded, 10, "the delivery to succeed")
        assert row["attempts"] == 4 and row["status_code"] == 200
        async with maintenance_tx(app.pool) as conn:
            codes = await conn.fetch(
                "SELECT attempt, status_code FROM webhooks.delivery_attempts "
                "WHERE delivery_id = $1 ORDER BY attempt",
                row["id"],
            )
        assert [(c["attempt"], c["status_code"]) for c in codes] == [
            (1, 500),
            (2, 500),
            (3, 500),
            (4, 200),
        ]
        assert (await endpoint_row(app.pool, hook.id))["failure_count"] == 0

    async def test_retry_after_is_honoured(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        receiver.script("/busy", [Reply(503, {"Retry-After": "2"}), 200])
        app = await make_app()
        await endpoint(app, org, receiver.url("/busy"), ["job.completed"])
        await run_job(queue_core, org)
        first, second = await until_received(receiver, 2, timeout=15)
        assert second.at - first.at >= 1.9

    async def test_gone_disables_the_endpoint_and_says_so(
        self,
        make_app: Any,
        queue_core: QueueCoreApp,
        receiver: WebhookReceiver,
        nats_server: NatsServer,
        org: str,
    ) -> None:
        receiver.script("/gone", [410])
        nc = await nats.connect(nats_server.url)
        seen: list[dict[str, Any]] = []

        async def on_msg(msg: Any) -> None:
            seen.append(orjson.loads(msg.data))

        await nc.subscribe(wire.subject(org, None, "webhook.disabled"), cb=on_msg)
        try:
            app = await make_app()
            hook = await endpoint(app, org, receiver.url("/gone"), ["job.completed"])
            await run_job(queue_core, org)
            await until_received(receiver, 1)

            async def disabled() -> Any:
                row = await endpoint_row(app.pool, hook.id)
                return row if not row["enabled"] else None

            row = await wait_until(disabled, 10, "the endpoint to be disabled")
            assert row["last_status"] == "auto_disabled" and row["disabled_reason"] == "gone"
            [delivery] = await delivery_rows(app.pool, hook.id)
            assert delivery["status"] == "failed" and delivery["status_code"] == 410
            await wait_until(lambda: _true_if(seen), 10, "the webhook.disabled event")
            assert seen[0]["event"] == "webhook.disabled"
            assert seen[0]["data"]["webhook_id"] == hook.id
            assert seen[0]["data"]["reason"] == "gone"
            # Disabled: later events are not delivered.
            await run_job(queue_core, org)
            await asyncio.sleep(0.7)
            assert len(receiver.received()) == 1
        finally:
            await nc.close()

    async def test_sustained_failures_auto_disable(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        receiver.script("/down", [500])
        app = await make_app(OUTGOING_WEBHOOK_MAX_ATTEMPTS=1, WEBHOOKS_AUTO_DISABLE_AFTER=3)
        hook = await endpoint(app, org, receiver.url("/down"), ["job.completed"])
        for _ in range(3):
            await run_job(queue_core, org)
        await until_received(receiver, 3)

        async def disabled() -> Any:
            row = await endpoint_row(app.pool, hook.id)
            return row if not row["enabled"] else None

        row = await wait_until(disabled, 10, "auto-disable")
        assert row["failure_count"] == 3 and row["disabled_reason"] == "failures"
        assert row["last_status"] == "auto_disabled"


class TestDurability:
    async def test_schedule_survives_a_restart(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        """A delivery waiting for its retry is sent by the next process, same id."""
        receiver.script("/later", [500, 200])
        env = {"WEBHOOKS_RETRY_BASE_SECS": 2.0, "WEBHOOKS_RETRY_MAX_SECS": 2.0}
        first = await make_app(**env)
        hook = await endpoint(first, org, receiver.url("/later"), ["job.completed"])
        await run_job(queue_core, org)
        await until_received(receiver, 1)
        await first.stop()
        second = await make_app(
            WEBHOOKS_CONSUMER_NAME=first.settings.consumer_name, wait_subscribed=False, **env
        )
        got = await until_received(receiver, 2, timeout=15)
        assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
        assert got[1].headers["x-spooled-delivery-attempt"] == "2"

        async def delivered() -> Any:
            rows = await delivery_rows(second.pool, hook.id)
            return rows if [r["status"] for r in rows] == ["success"] else None

        [row] = await wait_until(delivered, 10, "the delivery to be recorded as sent")
        assert row["attempts"] == 2

    async def test_deleting_an_endpoint_mid_delivery_is_clean(
        self,
        make_app: Any,
        queue_core: QueueCoreApp,
        receiver: WebhookReceiver,
        org: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Outcomes lock the endpoint before the delivery, as the delete's cascade does:
        the other order deadlocked (one side failed with an internal error)."""
        receiver.script("/busy", [500])
        app = await make_app(
            WEBHOOKS_RETRY_BASE_SECS=0.01,
            WEBHOOKS_RETRY_MAX_SECS=0.02,
            OUTGOING_WEBHOOK_MAX_ATTEMPTS=100,
        )
        hook = await endpoint(app, org, receiver.url("/busy"), ["job.completed"])
        for _ in range(20):
            await run_job(queue_core, org)
        await until_received(receiver, 60, timeout=30)
        api = Rpc(app.grpc_port)
        try:
            for _ in range(5):
                await asyncio.sleep(0.05)
                await api.call(org, "GetWebhook", pb.WebhookRef(id=hook.id))
            await api.call(org, "DeleteWebhook", pb.WebhookRef(id=hook.id))
        finally:
            await api.close()
        assert await delivery_rows(app.pool, hook.id) == []
        await asyncio.sleep(0.3)
        crashed = [r for r in caplog.records if r.levelname == "ERROR"]
        assert crashed == [], [r.getMessage() for r in crashed]

    async def test_redelivered_events_reuse_the_delivery(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        """A fan-out that fails is nak'ed and redelivered; the retry inserts the row once."""
        app = await make_app()
        assert app.consumer is not None
        real = app.consumer._fan_out
        calls = {"n": 0}

        async def flaky(events: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("database went away")
            first = await real(events)
            again = await real(events)  # the same events twice: nothing new
            assert again == 0
            return first

        app.consumer._fan_out = flaky
        hook = await endpoint(app, org, receiver.url(), ["job.created"])
        await run_job(queue_core, org)
        await until_received(receiver, 1, timeout=20)
        await asyncio.sleep(0.5)
        assert len(receiver.received()) == 1
        assert len(await delivery_rows(app.pool, hook.id)) == 1
        assert calls["n"] >= 2


async def _true_if(items: list[Any]) -> bool:
    return bool(items)


pytestmark = pytest.mark.timeout(120)
