"""Bad input gets a clear 4xx with ``{code, message}`` — never a 500, never a partial write.

Sent as raw HTTP: the SDK validates most of these client-side and would never send them.
After every rejected request the tenant's jobs, workers, queues and keys are counted again.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from spooled import SpooledClient

from .conftest import Db, Org, claim, describe, expect, unique

BAD_QUEUE_NAMES = {
    "dot-dot-slash": "../etc",
    "leading-dot": ".hidden",
    "space": "a b",
    "too-long": "q" * 101,
    "unicode": "ünïcödé-queue",
    "nul": "q\x00",
    "empty": "",
    "leading-dash": "-dash",
    "slash": "a/b",
}


@pytest.fixture
def unchanged(org: Org, db: Db, http: httpx.Client) -> Iterator[None]:
    """Fails the test if the tenant's resources changed while it ran."""

    def counts() -> dict[str, Any]:
        return {
            "jobs (db)": db.fetchval(
                "SELECT count(*) FROM core.jobs WHERE organization_id = $1", org.id, org=org.id
            ),
            "jobs (api)": expect(http.get("/jobs/stats"), 200)["total"],
            "workers": len(expect(http.get("/workers"), 200)),
            "queues": len(expect(http.get("/queues"), 200)),
            "api keys": len(expect(http.get("/api-keys"), 200)),
        }

    before = counts()
    yield
    assert counts() == before, "a rejected request wrote something"


def _raw(
    http: httpx.Client, method: str, path: str, content: bytes | str | None = None, **headers: str
) -> httpx.Response:
    return http.request(
        method, path, content=content, headers={"Content-Type": "application/json", **headers}
    )


# -- body syntax -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        pytest.param(b'{"queue_name": "q", "payload": ', {"INVALID_JSON"}, id="truncated"),
        pytest.param(b"{'queue_name': 'q'}", {"INVALID_JSON"}, id="single-quotes"),
        pytest.param(b"", {"INVALID_JSON", "VALIDATION_ERROR", "BAD_REQUEST"}, id="empty"),
        pytest.param(b"[1, 2]", {"INVALID_JSON", "VALIDATION_ERROR", "BAD_REQUEST"}, id="array"),
        pytest.param(
            b"\xff\xfe{}", {"INVALID_JSON", "VALIDATION_ERROR", "BAD_REQUEST"}, id="not-utf8"
        ),
    ],
)
def test_malformed_json(http: httpx.Client, raw: bytes, codes: set[str], unchanged: None) -> None:
    for path in ("/jobs", "/jobs/bulk", "/jobs/claim", "/workers/register"):
        resp = _raw(http, "POST", path, raw)
        doc = expect(resp, 400)
        assert doc["code"] in codes, describe(resp)


# -- body validation ---------------------------------------------------------------------
BAD_JOBS = {
    "unknown-field": {"queue_name": "q", "payload": {}, "bogus": 1},
    "queue-name-number": {"queue_name": 123, "payload": {}},
    "queue-name-missing": {"payload": {}},
    "payload-missing": {"queue_name": "q"},
    "priority-string": {"queue_name": "q", "payload": {}, "priority": "high"},
    "priority-float": {"queue_name": "q", "payload": {}, "priority": 1.5},
    "priority-101": {"queue_name": "q", "payload": {}, "priority": 101},
    "priority-minus-101": {"queue_name": "q", "payload": {}, "priority": -101},
    "max-retries-101": {"queue_name": "q", "payload": {}, "max_retries": 101},
    "max-retries-negative": {"queue_name": "q", "payload": {}, "max_retries": -1},
    "timeout-0": {"queue_name": "q", "payload": {}, "timeout_seconds": 0},
    "timeout-86401": {"queue_name": "q", "payload": {}, "timeout_seconds": 86401},
    "scheduled-at-garbage": {"queue_name": "q", "payload": {}, "scheduled_at": "tomorrow"},
    "tags-string": {"queue_name": "q", "payload": {}, "tags": "urgent"},
    "idempotency-key-256": {"queue_name": "q", "payload": {}, "idempotency_key": "k" * 256},
    "idempotency-key-number": {"queue_name": "q", "payload": {}, "idempotency_key": 5},
    "webhook-secret-256": {
        "queue_name": "q",
        "payload": {},
        "completion_webhook_secret": "s" * 256,
    },
    "parent-unknown": {
        "queue_name": "q",
        "payload": {},
        "parent_job_id": "00000000-0000-4000-8000-000000000000",
    },
}


@pytest.mark.parametrize("body", list(BAD_JOBS.values()), ids=list(BAD_JOBS))
def test_invalid_job_rejected(http: httpx.Client, body: dict[str, Any], unchanged: None) -> None:
    resp = http.post("/jobs", json=body)
    doc = expect(resp, 400)
    assert doc["code"] in {"VALIDATION_ERROR", "BAD_REQUEST"}, describe(resp)


BAD_BODIES = [
    ("/jobs/bulk", {"queue_name": "q", "jobs": []}, "bulk-empty"),
    (
        "/jobs/bulk",
        {"queue_name": "q", "jobs": [{"payload": {"i": i}} for i in range(101)]},
        "bulk-101",
    ),
    (
        "/jobs/bulk",
        {
            "queue_name": "q",
            "jobs": [{"payload": {}}, {"payload": {}}, {"payload": {}, "priority": 101}],
        },
        "bulk-one-bad-item",
    ),
    (
        "/jobs/bulk",
        {"queue_name": "q", "jobs": [{"payload": {}, "bogus": True}]},
        "bulk-unknown-item-field",
    ),
    (
        "/jobs/bulk",
        {"queue_name": "q", "jobs": [{"payload": {}}], "default_priority": 500},
        "bulk-default-priority",
    ),
    ("/jobs/claim", {"queue_name": "q", "worker_id": "w", "limit": 101}, "claim-limit-101"),
    ("/jobs/claim", {"queue_name": "q", "worker_id": "w", "limit": 0}, "claim-limit-0"),
    (
        "/jobs/claim",
        {"queue_name": "q", "worker_id": "w", "lease_duration_secs": 4},
        "claim-lease-4",
    ),
    (
        "/jobs/claim",
        {"queue_name": "q", "worker_id": "w", "lease_duration_secs": 3601},
        "claim-lease-3601",
    ),
    ("/jobs/claim", {"queue_name": "q", "worker_id": ""}, "claim-empty-worker"),
    ("/jobs/claim", {"queue_name": "q"}, "claim-no-worker"),
    ("/jobs/dlq/retry", {"limit": 0}, "dlq-retry-limit-0"),
    ("/jobs/dlq/retry", {"limit": 101}, "dlq-retry-limit-101"),
    ("/jobs/dlq/purge", {"queue_name": "q"}, "dlq-purge-no-confirm"),
    (
        "/workers/register",
        {"queue_name": "q", "hostname": "h", "max_concurrency": 0},
        "worker-concurrency-0",
    ),
    (
        "/workers/register",
        {"queue_name": "q", "hostname": "h", "max_concurrency": 101},
        "worker-concurrency-101",
    ),
    ("/workers/register", {"queue_name": "q", "hostname": "bad host"}, "worker-hostname"),
    (
        "/workers/register",
        {"queue_name": "q", "hostname": "h", "worker_id": "bad id!"},
        "worker-id-chars",
    ),
    ("/workers/register", {"queue_name": "q"}, "worker-no-hostname"),
    ("/api-keys", {"name": ""}, "api-key-empty-name"),
    ("/api-keys", {"name": "k", "rate_limit": 0}, "api-key-rate-limit-0"),
    ("/api-keys", {"name": "k", "expires_at": "2000-01-01T00:00:00Z"}, "api-key-expired"),
]


@pytest.mark.parametrize(
    ("path", "body"), [(p, b) for p, b, _ in BAD_BODIES], ids=[i for _, _, i in BAD_BODIES]
)
def test_invalid_bodies_rejected(
    http: httpx.Client, path: str, body: dict[str, Any], unchanged: None
) -> None:
    expect(http.post(path, json=body), 400)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"max_retries": 101}, id="max-retries-101"),
        pytest.param({"default_timeout": 0}, id="timeout-0"),
        pytest.param({"rate_limit": 0}, id="rate-limit-0"),
        pytest.param({"enabled": "yes please"}, id="enabled-string"),
        pytest.param({"bogus": 1}, id="unknown-field"),
    ],
)
def test_invalid_queue_config_rejected(
    http: httpx.Client, body: dict[str, Any], unchanged: None
) -> None:
    expect(http.put(f"/queues/{unique('cfg')}/config", json=body), 400)


def test_worker_heartbeat_rejects_negative_jobs(org: Org, http: httpx.Client) -> None:
    wid = unique("hb")
    expect(
        http.post("/workers/register", json={"queue_name": "q", "hostname": "h", "worker_id": wid}),
        201,
    )
    resp = http.post(f"/workers/{wid}/heartbeat", json={"current_jobs": -1, "status": "draining"})
    expect(resp, 400)
    worker = expect(http.get(f"/workers/{wid}"), 200)
    assert (worker["status"], worker["current_job_count"]) == ("healthy", 0), worker
    expect(http.post(f"/workers/{wid}/deregister"), 204)


# -- sizes -------------------------------------------------------------------------------
def test_payload_over_1_mib_is_413(http: httpx.Client, unchanged: None) -> None:
    blob = "x" * (1024 * 1024 + 1024)
    resp = http.post("/jobs", json={"queue_name": "big", "payload": {"blob": blob}})
    expect(resp, 413, "PAYLOAD_TOO_LARGE")
    resp = http.post(
        "/jobs/bulk", json={"queue_name": "big", "jobs": [{"payload": {"blob": blob}}]}
    )
    expect(resp, 413, "PAYLOAD_TOO_LARGE")


def test_batch_status_over_100_ids_is_400(http: httpx.Client, unchanged: None) -> None:
    ids = ",".join(str(uuid.uuid4()) for _ in range(101))
    expect(http.get("/jobs/status", params={"ids": ids}), 400)
    ok = expect(http.get("/jobs/status", params={"ids": ",".join(ids.split(",")[:100])}), 200)
    assert ok == []


# -- queue names -------------------------------------------------------------------------
def _name_bodies(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/jobs", {"queue_name": name, "payload": {}}),
        ("/jobs/bulk", {"queue_name": name, "jobs": [{"payload": {}}]}),
        ("/jobs/claim", {"queue_name": name, "worker_id": "w"}),
        ("/workers/register", {"queue_name": name, "hostname": "h"}),
    ]


@pytest.mark.parametrize("name", list(BAD_QUEUE_NAMES.values()), ids=list(BAD_QUEUE_NAMES))
def test_bad_queue_names_in_bodies(http: httpx.Client, name: str, unchanged: None) -> None:
    for path, body in _name_bodies(name):
        resp = http.post(
            path, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        doc = expect(resp, 400)
        assert doc["code"] in {"VALIDATION_ERROR", "BAD_REQUEST"}, describe(resp)


@pytest.mark.parametrize("name", list(BAD_QUEUE_NAMES.values()), ids=list(BAD_QUEUE_NAMES))
def test_bad_queue_names_in_paths(http: httpx.Client, name: str, unchanged: None) -> None:
    # Configuring is an upsert, so it must reject the name. A name with "/" (or none at
    # all) cannot address a queue route, and a queue with a bad name never exists, so 404
    # is an acceptable answer there.
    unaddressable = "/" in name or not name
    encoded = quote(name, safe="")
    for method, path, body, allowed in (
        (
            "PUT",
            f"/queues/{encoded}/config",
            {"max_retries": 1},
            {400, 404} if unaddressable else {400},
        ),
        ("POST", f"/queues/{encoded}/pause", {}, {400, 404}),
        # (With no name at all this is the collection URL, not a queue's.)
        *([("GET", f"/queues/{encoded}", None, {400, 404})] if name else []),
        ("GET", f"/queues/{encoded}/stats", None, {400, 404}),
    ):
        expect(http.request(method, path, json=body), allowed)


# -- authentication ----------------------------------------------------------------------
@pytest.fixture
def revoked_key(client: SpooledClient) -> str:
    created = client.api_keys.create({"name": "to revoke"})
    client.api_keys.delete(created.id)
    return created.key


def test_missing_invalid_and_revoked_keys_are_401(
    org: Org, revoked_key: str, unchanged: None
) -> None:
    base = org.stack.base_url + "/api/v1"
    body = {"queue_name": "auth", "payload": {}}
    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {org.api_key}"},
        {"Authorization": "Bearer sp_test_" + secrets.token_urlsafe(32)},
        {"Authorization": "Bearer " + org.api_key[:-2]},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"},
        {"Authorization": f"Bearer {revoked_key}"},
        {"X-API-Key": org.api_key},
    ):
        for method, path in (
            ("POST", "/jobs"),
            ("GET", "/jobs"),
            ("GET", "/queues"),
            ("GET", "/workers"),
            ("GET", "/api-keys"),
        ):
            resp = httpx.request(
                method,
                base + path,
                headers=headers,
                json=body if method == "POST" else None,
                timeout=30,
            )
            expect(resp, 401)


# -- leases ------------------------------------------------------------------------------
def test_settling_with_a_stale_or_foreign_lease_is_409(
    client: SpooledClient, http: httpx.Client
) -> None:
    q = unique("lease")
    job_id = client.jobs.create({"queue_name": q, "payload": {}, "max_retries": 5}).id
    [job] = claim(client, q, lease=5)

    wrong = http.post(
        f"/jobs/{job_id}/complete",
        json={"worker_id": "e2e-worker", "lease_id": job.lease_id + "-not-mine", "result": {}},
    )
    expect(wrong, 409, "LEASE_EXPIRED")

    assert job.lease_expires_at is not None
    time.sleep(max(0.0, (job.lease_expires_at - datetime.now(UTC)).total_seconds()) + 1)
    settle = {"worker_id": "e2e-worker", "lease_id": job.lease_id}
    expect(
        http.post(f"/jobs/{job_id}/complete", json={**settle, "result": {"late": 1}}),
        409,
        "LEASE_EXPIRED",
    )
    expect(
        http.post(f"/jobs/{job_id}/fail", json={**settle, "error": "late"}), 409, "LEASE_EXPIRED"
    )
    expect(
        http.post(f"/jobs/{job_id}/heartbeat", json={**settle, "lease_duration_secs": 30}),
        409,
        "LEASE_EXPIRED",
    )
    after = client.jobs.get(job_id)
    assert after.status != "completed" and after.result is None


# -- edges of the API --------------------------------------------------------------------
def test_unknown_route_and_method(http: httpx.Client, unchanged: None) -> None:
    expect(http.get("/no-such-thing"), 404, "NOT_FOUND")
    expect(http.patch("/jobs", json={}), 405, "METHOD_NOT_ALLOWED")
    expect(http.get("/jobs", headers={"X-API-Version": "2"}), 400)


def test_unknown_job_ids(http: httpx.Client, unchanged: None) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for method, path, body in (
        ("GET", f"/jobs/{missing}", None),
        ("DELETE", f"/jobs/{missing}", None),
        ("POST", f"/jobs/{missing}/retry", None),
        ("PUT", f"/jobs/{missing}/priority", {"priority": 1}),
        ("POST", f"/jobs/{missing}/complete", {"worker_id": "w", "lease_id": "l"}),
        ("GET", "/jobs/not a uuid at all", None),
    ):
        expect(http.request(method, path, json=body), {404})
