"""``spooled.internal.v1.Webhooks`` over real gRPC: endpoint CRUD, validation, the plan
cap, tenancy, SSRF refusals at creation, test sends, delivery history and manual retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest
from spooled_common import errors
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_proto.spooled.internal.v1 import webhooks_pb2_grpc
from spooled_queue_core.app import QueueCoreApp
from spooled_testing.receiver import WebhookReceiver, spooled_signature_ok
from spooled_webhooks.app import WebhooksApp
from wh_helpers import INTERNAL_TOKEN, Rpc, run_job, until_received, wait_until


@pytest.fixture
async def app(make_app: Any) -> WebhooksApp:
    return await make_app()  # type: ignore[no-any-return]


@pytest.fixture
async def api(app: WebhooksApp) -> AsyncIterator[Rpc]:
    client = Rpc(app.grpc_port)
    yield client
    await client.close()


def create(url: str, events: tuple[str, ...] = ("job.completed",), **kw: Any) -> Any:
    kw.setdefault("enabled", True)
    return pb.CreateWebhookRequest(name="hook", url=url, events=list(events), **kw)


class TestCrud:
    async def test_create_get_list_update_delete(
        self, api: Rpc, org: str, receiver: WebhookReceiver
    ) -> None:
        made = await api.call(org, "CreateWebhook", create(receiver.url(), secret="abc"))
        assert made.organization_id == org and made.enabled and made.has_secret
        assert made.format == "json" and made.failure_count == 0
        assert not made.HasField("last_status")
        got = await api.call(org, "GetWebhook", pb.WebhookRef(id=made.id))
        assert got == made
        listed = await api.call(org, "ListWebhooks", pb.ListWebhooksRequest())
        assert [w.id for w in listed.webhooks] == [made.id]

        # Three-state secret: unset keeps it, clear_secret removes it.
        kept = await api.call(org, "UpdateWebhook", pb.UpdateWebhookRequest(id=made.id, name="n2"))
        assert kept.name == "n2" and kept.has_secret
        cleared = await api.call(
            org, "UpdateWebhook", pb.UpdateWebhookRequest(id=made.id, clear_secret=True)
        )
        assert not cleared.has_secret
        events = await api.call(
            org,
            "UpdateWebhook",
            pb.UpdateWebhookRequest(
                id=made.id, set_events=True, events=["job.failed", "job.failed", "queue.paused"]
            ),
        )
        assert list(events.events) == ["job.failed", "queue.paused"]

        await api.call(org, "DeleteWebhook", pb.WebhookRef(id=made.id))
        with pytest.raises(errors.NotFound):
            await api.call(org, "GetWebhook", pb.WebhookRef(id=made.id))

    async def test_other_orgs_see_nothing(
        self, api: Rpc, org: str, receiver: WebhookReceiver
    ) -> None:
        made = await api.call(org, "CreateWebhook", create(receiver.url()))
        other = f"{org}-b"
        assert not (await api.call(other, "ListWebhooks", pb.ListWebhooksRequest())).webhooks
        for method, req in (
            ("GetWebhook", pb.WebhookRef(id=made.id)),
            ("DeleteWebhook", pb.WebhookRef(id=made.id)),
            ("UpdateWebhook", pb.UpdateWebhookRequest(id=made.id, name="x")),
            ("TestWebhook", pb.WebhookRef(id=made.id)),
        ):
            with pytest.raises(errors.NotFound):
                await api.call(other, method, req)

    @pytest.mark.parametrize(
        ("request_kw", "message"),
        [
            ({"events": ["job.exploded"]}, "Invalid event type: 'job.exploded'"),
            ({"events": []}, "events: at least one"),
            ({"name": ""}, "name:"),
            ({"url": "ftp://example.com/x"}, "only http and https"),
            ({"url": "http://user:pw@example.com/"}, "credentials"),
            ({"secret": "x" * 256}, "secret:"),
            ({"format": "xml"}, "format:"),
        ],
    )
    async def test_validation(
        self, api: Rpc, org: str, request_kw: dict[str, Any], message: str
    ) -> None:
        values: dict[str, Any] = {
            "name": "hook",
            "url": "https://example.com/h",
            "events": ["job.completed"],
        }
        values.update(request_kw)
        with pytest.raises(errors.ValidationError) as exc:
            await api.call(org, "CreateWebhook", pb.CreateWebhookRequest(enabled=True, **values))
        assert message in exc.value.message

    async def test_plan_cap_counts_enabled_endpoints(
        self, api: Rpc, org: str, receiver: WebhookReceiver
    ) -> None:
        first = await api.call(org, "CreateWebhook", create(receiver.url(), max_webhooks=1))
        with pytest.raises(errors.QuotaExceeded) as exc:
            await api.call(org, "CreateWebhook", create(receiver.url(), max_webhooks=1))
        assert exc.value.extra["resource"] == "webhooks" and exc.value.extra["limit"] == 1
        # A disabled one does not count; enabling it again does.
        off = await api.call(
            org, "CreateWebhook", create(receiver.url(), enabled=False, max_webhooks=1)
        )
        with pytest.raises(errors.QuotaExceeded):
            await api.call(
                org,
                "UpdateWebhook",
                pb.UpdateWebhookRequest(id=off.id, enabled=True, max_webhooks=1),
            )
        await api.call(org, "UpdateWebhook", pb.UpdateWebhookRequest(id=first.id, enabled=False))
        assert (
            await api.call(
                org,
                "UpdateWebhook",
                pb.UpdateWebhookRequest(id=off.id, enabled=True, max_webhooks=1),
            )
        ).enabled

    async def test_internal_token_is_required(self, app: WebhooksApp, org: str) -> None:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        try:
            stub = webhooks_pb2_grpc.WebhooksStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stub.ListWebhooks(
                    pb.ListWebhooksRequest(),
                    metadata=(
                        ("x-internal-token", INTERNAL_TOKEN + "x"),
                        ("x-spooled-org-id", org),
                    ),
                )
            assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            await channel.close()


class TestSsrfAtCreation:
    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:8080/hook",  # resolves to loopback; only 127.0.0.1 is listed
            "http://127.0.0.2/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://100.64.0.1/hook",
            "http://[fd00:ec2::254]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://0.0.0.0/hook",
        ],
    )
    async def test_private_destinations_are_refused(self, api: Rpc, org: str, url: str) -> None:
        with pytest.raises(errors.ValidationError) as exc:
            await api.call(org, "CreateWebhook", create(url))
        assert exc.value.message.startswith("url:")

    async def test_allow_listed_and_unresolvable_hosts_are_accepted(
        self, api: Rpc, org: str
    ) -> None:
        await api.call(org, "CreateWebhook", create("http://127.0.0.1:9/hook"))
        # Not in DNS (yet): accepted, checked again at every delivery.
        await api.call(org, "CreateWebhook", create("https://does-not-exist.invalid/hook"))

    async def test_without_allow_list_loopback_is_refused_at_delivery(
        self, make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
    ) -> None:
        strict = await make_app(WEBHOOKS_ALLOWED_HOSTS="")
        api = Rpc(strict.grpc_port)
        try:
            with pytest.raises(errors.ValidationError):
                await api.call(org, "CreateWebhook", create(receiver.url()))
            # A completion webhook is only checked when it is sent: refused, never retried.
            job_id = await run_job(queue_core, org, completion_webhook=receiver.url("/done"))

            async def refused() -> Any:
                assert strict.pool is not None
                async with strict.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT set_config('app.current_org_id', $1, true)", org)
                    return await conn.fetchrow(
                        "SELECT status, attempts, error FROM webhooks.deliveries WHERE job_id = $1",
                        job_id,
                    )

            row = await wait_until(lambda: _status(refused, "failed"), 10, "a failed delivery")
            assert row["attempts"] == 1 and "Destination refused" in row["error"]
            assert receiver.received() == []
        finally:
            await api.close()


async def _status(fetch: Any, status: str) -> Any:
    row = await fetch()
    return row if row is not None and row["status"] == status else None


class TestTestAndDeliveries:
    async def test_test_send(self, api: Rpc, org: str, receiver: WebhookReceiver) -> None:
        made = await api.call(org, "CreateWebhook", create(receiver.url(), secret="k"))
        reply = await api.call(org, "TestWebhook", pb.WebhookRef(id=made.id))
        assert reply.success and reply.status_code == 200 and reply.response_time_ms >= 0
        [r] = receiver.received()
        body = r.json()
        assert body["event"] == "webhook.test" and body["test"] is True
        assert body["webhook_id"] == made.id and body["organization_id"] == org
        assert spooled_signature_ok("k", r)

    async def test_test_send_reports_failure(
        self, api: Rpc, org: str, receiver: WebhookReceiver
    ) -> None:
        receiver.script("/bad", [502])
        made = await api.call(org, "CreateWebhook", create(receiver.url("/bad")))
        reply = await api.call(org, "TestWebhook", pb.WebhookRef(id=made.id))
        assert not reply.success and reply.status_code == 502 and reply.error == "HTTP 502"

    async def test_history_filter_and_manual_retry(
        self,
        make_app: Any,
        queue_core: QueueCoreApp,
        receiver: WebhookReceiver,
        org: str,
    ) -> None:
        app = await make_app(OUTGOING_WEBHOOK_MAX_ATTEMPTS=2)
        api = Rpc(app.grpc_port)
        try:
            receiver.script("/r", [500, 500, 500, 200])
            made = await api.call(org, "CreateWebhook", create(receiver.url("/r")))
            await run_job(queue_core, org)
            await until_received(receiver, 2)

            async def failed() -> Any:
                reply = await api.call(
                    org,
                    "ListWebhookDeliveries",
                    pb.ListWebhookDeliveriesRequest(webhook_id=made.id, status="failed"),
                )
                return list(reply.deliveries)

            [d] = await wait_until(failed, 10, "the delivery to fail for good")
            assert d.attempts == 2 and d.status_code == 500 and d.error == "HTTP 500"
            assert not d.HasField("next_attempt_at")
            body = orjson.loads(d.payload)
            assert body["id"] == d.id and body["event"] == "job.completed"

            retry = pb.RetryWebhookDeliveryRequest(webhook_id=made.id, delivery_id=d.id)
            # A failed manual retry leaves it failed and is not one more failed delivery.
            again = await api.call(org, "RetryWebhookDelivery", retry)
            assert not again.success and again.message == "Delivery failed: HTTP 500"
            hook = await api.call(org, "GetWebhook", pb.WebhookRef(id=made.id))
            assert hook.failure_count == 1 and hook.enabled
            reply = await api.call(org, "RetryWebhookDelivery", retry)
            assert reply.success, reply.message
            last = receiver.received()[-1]
            assert last.headers["webhook-id"] == d.id
            assert last.headers["x-spooled-delivery-attempt"] == "4"
            hook = await api.call(org, "GetWebhook", pb.WebhookRef(id=made.id))
            assert hook.failure_count == 0 and hook.last_status == "success"
            listed = await api.call(
                org, "ListWebhookDeliveries", pb.ListWebhookDeliveriesRequest(webhook_id=made.id)
            )
            assert [x.status for x in listed.deliveries] == ["success"]
            with pytest.raises(errors.NotFound):
                await api.call(
                    org,
                    "RetryWebhookDelivery",
                    pb.RetryWebhookDeliveryRequest(webhook_id=made.id, delivery_id="nope"),
                )
        finally:
            await api.close()
