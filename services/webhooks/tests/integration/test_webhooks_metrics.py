"""/metrics of the webhooks service after real deliveries: failures and latency by event.

The endpoint subscribes to ``job.started`` only, an event no other test here
subscribes to, so the ``event="job.started"`` series move by exactly what this
test caused even though the process-wide registry is shared.
"""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_queue_core.app import QueueCoreApp
from spooled_testing.receiver import WebhookReceiver
from wh_helpers import Rpc, run_job, until_received, wait_until

EVENT = "job.started"


async def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }


def counts(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[str, float]:
    def get(name: str, **labels: str) -> float:
        return samples.get((name, frozenset({"event": EVENT, **labels}.items())), 0.0)

    return {
        "failed": get("spooled_webhook_deliveries_total", outcome="failed"),
        "delivered": get("spooled_webhook_deliveries_total", outcome="delivered"),
        "timed": get("spooled_webhook_delivery_duration_seconds_count"),
        "under_30s": get("spooled_webhook_delivery_duration_seconds_bucket", le="30.0"),
    }


async def test_failed_then_delivered_attempts_are_counted_by_event(
    make_app: Any, queue_core: QueueCoreApp, receiver: WebhookReceiver, org: str
) -> None:
    receiver.script("/started", [500, 200])
    app = await make_app()
    before = counts(await scrape(app.http_port))
    api = Rpc(app.grpc_port)
    try:
        await api.call(
            org,
            "CreateWebhook",
            pb.CreateWebhookRequest(
                name="hook", url=receiver.url("/started"), events=[EVENT], enabled=True
            ),
        )
    finally:
        await api.close()
    await run_job(queue_core, org)
    await until_received(receiver, 2, path="/started")

    async def settled() -> Any:
        now = counts(await scrape(app.http_port))
        return now if now["delivered"] > before["delivered"] else None

    after = await wait_until(settled, 15, "the second attempt to be recorded")
    delta = {k: after[k] - before[k] for k in after}
    # One 500, then one 2xx; both timed, both well under the 30 s bucket.
    assert delta == {"failed": 1, "delivered": 1, "timed": 2, "under_30s": 2}
