"""Every documented success body, checked against the OpenAPI document with real data.

test_openapi_fuzz.py checks whatever its random requests get back, and random ids mostly
get 404: a job that was claimed, heartbeated and completed, a dead letter, a failed
workflow or a webhook delivery are out of its reach. Here each operation of the public API
is driven to its success status through a real lifecycle, and schemathesis validates the
status, content type and body against the document the gateway serves (the response
models are documentation only: the routes render with orjson and validate nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from spooled_testing.receiver import WebhookReceiver
from spooled_testing.stack import Stack

from .conftest import API, WORKER, Org, expect, unique, wait_for

#: Outside this test: the SSE streams (test_realtime.py), the bodiless worker heartbeat,
#: the always-400 webhook-token clear, and the account routes (auth, organizations, API
#: keys, billing, admin), whose bodies FastAPI validates against their models already.
_ACCOUNT = ("/api/v1/auth", "/api/v1/organizations", "/api/v1/api-keys", "/api/v1/billing")
_ACCOUNT += ("/api/v1/admin", "/api/v1/events", "/health", "/metrics")


class Checked:
    """An HTTP client that validates each response against the served document."""

    def __init__(self, http: httpx.Client, api: Any) -> None:
        self.http = http
        self.api = api
        self.seen: set[tuple[str, str]] = set()

    def call(
        self,
        method: str,
        template: str,
        ids: dict[str, str] | None = None,
        *,
        status: int = 200,
        **kwargs: Any,
    ) -> Any:
        resp = self.http.request(method, template.format(**(ids or {})), **kwargs)
        body = expect(resp, status)
        path = API + template
        self.api[path][method.upper()].validate_response(resp)
        self.seen.add((method.upper(), path))
        return body


@pytest.fixture(scope="module")
def api(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")


@pytest.fixture(scope="module")
def checked(org: Org, api: Any) -> Checked:
    return Checked(org.http(), api)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _claim(c: Checked, queue: str, worker: str = WORKER) -> dict[str, Any]:
    claimed = c.call(
        "post",
        "/jobs/claim",
        json={"queue_name": queue, "worker_id": worker, "lease_duration_secs": 30},
    )
    [job] = claimed["jobs"]
    return dict(job)


def test_job_lifecycle(checked: Checked) -> None:
    c, queue = checked, unique("bodies")
    new = {"queue_name": queue, "payload": {"n": 1}, "idempotency_key": unique("k")}
    job_id = c.call("post", "/jobs", json=new, status=201)["id"]
    assert c.call("post", "/jobs", json=new)["created"] is False
    bulk = {"queue_name": queue, "jobs": [{"payload": {"n": 2}}, {"payload": [3]}]}
    assert c.call("post", "/jobs/bulk", json=bulk)["success_count"] == 2
    c.call("get", "/jobs", params={"queue_name": queue})
    c.call("get", "/jobs/stats", params={"queue_name": queue})
    c.call("get", "/jobs/status", params={"ids": job_id})
    c.call("put", "/jobs/{job_id}/priority", {"job_id": job_id}, json={"priority": 100})
    c.call("get", "/jobs/{job_id}/diagnose", {"job_id": job_id})
    job = _claim(c, queue)
    assert job["id"] == job_id
    ids = {"job_id": job_id}
    lease = {"worker_id": WORKER, "lease_id": job["lease_id"]}
    c.call("post", "/jobs/{job_id}/heartbeat", ids, json={**lease, "lease_duration_secs": 30})
    c.call("get", "/jobs/{job_id}", ids)
    c.call("post", "/jobs/{job_id}/complete", ids, json={**lease, "result": {"ok": True}})
    c.call("get", "/jobs/{job_id}", ids)
    c.call("get", "/jobs/{job_id}/history", ids)
    c.call("get", "/jobs/{job_id}/diagnose", ids)


def test_dependencies(checked: Checked) -> None:
    c, queue = checked, unique("deps")
    first = c.call("post", "/jobs", json={"queue_name": queue, "payload": 1}, status=201)["id"]
    then = c.call("post", "/jobs", json={"queue_name": queue, "payload": 2}, status=201)["id"]
    ids = {"job_id": then}
    c.call("post", "/jobs/{job_id}/dependencies", ids, json={"depends_on": [first]})
    assert c.call("get", "/jobs/{job_id}/dependencies", ids)["dependencies_met"] is False


def _dead_letter(c: Checked, queue: str) -> str:
    new = {"queue_name": queue, "payload": {}, "max_retries": 0, "priority": 100}
    job_id: str = c.call("post", "/jobs", json=new, status=201)["id"]
    job = _claim(c, queue)
    failure = {"worker_id": WORKER, "lease_id": job["lease_id"], "error": "boom"}
    c.call("post", "/jobs/{job_id}/fail", {"job_id": job_id}, json=failure)
    return job_id


def test_dead_letters(checked: Checked) -> None:
    # A queue each: a retried job is claimable again and would be claimed first.
    c, queues = checked, [unique("dlq") for _ in range(3)]
    job_id = _dead_letter(c, queues[0])
    listed = c.call("get", "/jobs/dlq", params={"queue_name": queues[0]})
    assert listed[0]["last_error"] == "boom"
    c.call("post", "/jobs/{job_id}/retry", {"job_id": job_id})
    again = _dead_letter(c, queues[1])
    c.call("post", "/jobs/dlq/retry", json={"job_ids": [again, unique("missing")]})
    _dead_letter(c, queues[2])
    c.call("post", "/jobs/dlq/purge", json={"queue_name": queues[2], "confirm": True})


def test_readiness(stack: Stack, api: Any) -> None:
    api["/ready"]["GET"].validate_response(httpx.get(f"{stack.base_url}/ready", timeout=10))


def test_queues_workers_dashboard(checked: Checked) -> None:
    c, queue = checked, unique("q")
    ids = {"name": queue}
    c.call("put", "/queues/{name}/config", ids, json={"max_retries": 2, "settings": {"a": 1}})
    c.call("get", "/queues")
    c.call("get", "/queues/{name}", ids)
    c.call("get", "/queues/{name}/stats", ids)
    c.call("post", "/queues/{name}/pause", ids, json={"reason": "maintenance"})
    c.call("post", "/queues/{name}/resume", ids)
    worker = {"queue_name": queue, "hostname": "host-1", "metadata": {"v": 1}}
    worker_id = c.call("post", "/workers/register", json=worker, status=201)["id"]
    c.call("get", "/workers")
    c.call("get", "/workers/{worker_id}", {"worker_id": worker_id})
    c.call("post", "/jobs", json={"queue_name": queue, "payload": None}, status=201)
    _claim(c, queue, worker=worker_id)
    c.call("get", "/dashboard")
    held = c.call("get", "/dashboard/workers")
    assert any(w["current_job_ids"] for w in held if w["id"] == worker_id)


def test_schedules(checked: Checked) -> None:
    c = checked
    new = {
        "name": unique("nightly"),
        "cron_expression": "0 0 3 * * *",
        "queue_name": unique("cron"),
        "payload_template": {"report": True},
    }
    ids = {"schedule_id": c.call("post", "/schedules", json=new, status=201)["id"]}
    c.call("get", "/schedules")
    c.call("get", "/schedules/{schedule_id}", ids)
    c.call("put", "/schedules/{schedule_id}", ids, json={"description": "at three"})
    c.call("post", "/schedules/{schedule_id}/pause", ids)
    c.call("post", "/schedules/{schedule_id}/resume", ids)
    c.call("post", "/schedules/{schedule_id}/trigger", ids)
    assert c.call("get", "/schedules/{schedule_id}/history", ids)[0]["kind"] == "manual"


def test_workflows(checked: Checked) -> None:
    c, queue = checked, unique("wf")
    steps = [
        {"key": "a", "queue_name": queue, "payload": 1, "max_retries": 0},
        {"key": "b", "queue_name": queue, "payload": 2, "depends_on": ["a"]},
    ]
    created = c.call("post", "/workflows", json={"name": unique("flow"), "jobs": steps})
    ids = {"workflow_id": created["workflow_id"]}
    job = _claim(c, queue)
    failure = {"worker_id": WORKER, "lease_id": job["lease_id"], "error": "boom"}
    c.call("post", "/jobs/{job_id}/fail", {"job_id": job["id"]}, json=failure)
    wait_for(
        lambda: c.call("get", "/workflows/{workflow_id}", ids)["status"] == "failed",
        timeout=30,
        desc="the workflow to fail",
    )
    c.call("get", "/workflows", params={"limit": 5})
    c.call("post", "/workflows/{workflow_id}/retry", ids)
    c.call("post", "/workflows/{workflow_id}/cancel", ids)


def test_outgoing_webhooks(checked: Checked, receiver: WebhookReceiver) -> None:
    c = checked
    new = {"name": unique("hook"), "url": receiver.url(), "events": ["job.completed"]}
    ids = {"webhook_id": c.call("post", "/outgoing-webhooks", json=new, status=201)["id"]}
    c.call("get", "/outgoing-webhooks")
    c.call("get", "/outgoing-webhooks/{webhook_id}", ids)
    c.call("put", "/outgoing-webhooks/{webhook_id}", ids, json={"secret": "s3cret-s3cret"})
    c.call("post", "/outgoing-webhooks/{webhook_id}/test", ids)
    queue = unique("hooked")
    job_id = c.call("post", "/jobs", json={"queue_name": queue, "payload": 1}, status=201)["id"]
    job = _claim(c, queue)
    lease = {"worker_id": WORKER, "lease_id": job["lease_id"]}
    c.call("post", "/jobs/{job_id}/complete", {"job_id": job_id}, json=lease)
    delivered = wait_for(
        lambda: c.call("get", "/outgoing-webhooks/{webhook_id}/deliveries", ids),
        timeout=30,
        desc="a delivery",
    )
    retry = {**ids, "delivery_id": delivered[0]["id"]}
    c.call("post", "/outgoing-webhooks/{webhook_id}/retry/{delivery_id}", retry)


def test_incoming_webhooks(checked: Checked, org: Org) -> None:
    c = checked
    c.call("get", "/webhooks/providers")
    c.call(
        "put", "/webhooks/providers/{provider}", {"provider": "github"}, json={"secret": "x" * 16}
    )
    token = expect(org.http().get("/organizations/webhook-token"), 200)["webhook_token"]
    event = {"queue_name": unique("inbox"), "payload": {"order": 7}}
    c.call(
        "post",
        "/webhooks/{org_id}/{provider}",
        {"org_id": org.id, "provider": "custom"},
        json=event,
        headers={"X-Webhook-Token": token},
    )
    c.call("get", "/webhooks/deliveries")


def test_every_typed_operation_was_checked(checked: Checked, api: Any) -> None:
    """Runs last in this module: each typed operation outside the account routes ran."""
    typed = set()
    for result in api.get_all_operations():
        op = result.ok()
        success = [c for c in op.definition.raw.get("responses", {}) if c.startswith("2")]
        if success != ["204"] and not op.path.startswith(_ACCOUNT) and op.path != "/ready":
            typed.add((op.method.upper(), op.path))
    typed -= {("POST", "/api/v1/workers/{worker_id}/heartbeat")}
    assert typed - checked.seen == set()
