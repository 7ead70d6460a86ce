"""Bad input gets a clear 4xx with ``{code, message}`` — never a 500, never a partial write.

Sent as raw HTTP: the SDK validates most of these client-side and would never send them.
After every rejected request the tenant's jobs, workers, queues and keys are counted again.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from spooled import SpooledClient
from spooled_testing import reliability

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


# -- what was observed, for docs/reliability.md ------------------------------------------
_SENT: Counter[str] = Counter()


def note(fault: str, checked: str, requests: int, observed: str | None = None) -> None:
    """Record a passed hostile-input check; parametrized cases add up under one row."""
    _SENT[fault] += requests
    reliability.record(
        "hostile input",
        fault,
        checked,
        observed or f"{_SENT[fault]} requests, every one a clear 4xx; nothing written",
        requests=_SENT[fault],
        **{"5xx": 0},
    )


# -- size limits: at the limit accepted, one over refused ------------------------------
MAX_PAYLOAD = 1024 * 1024  # QUEUE_MAX_PAYLOAD_SIZE_BYTES (the stack's default)
MAX_BODY = 6 * 1024 * 1024  # SPOOLED_MAX_BODY_BYTES


def _payload_of(size: int) -> dict[str, str]:
    """A JSON object whose compact serialization is exactly ``size`` bytes."""
    doc = {"x": ""}
    doc["x"] = "y" * (size - len(json.dumps(doc, separators=(",", ":"))))
    assert len(json.dumps(doc, separators=(",", ":"))) == size
    return doc


def test_payload_at_the_limit_is_accepted_and_one_byte_over_is_413(
    http: httpx.Client, client: SpooledClient
) -> None:
    q = unique("edge")
    at = expect(
        http.post("/jobs", json={"queue_name": q, "payload": _payload_of(MAX_PAYLOAD)}), 201
    )
    assert client.jobs.get(at["id"]).payload == _payload_of(MAX_PAYLOAD)
    before = expect(http.get("/jobs/stats", params={"queue_name": q}), 200)["total"]
    over = http.post("/jobs", json={"queue_name": q, "payload": _payload_of(MAX_PAYLOAD + 1)})
    doc = expect(over, 413, "PAYLOAD_TOO_LARGE")
    assert (doc["current"], doc["limit"]) == (MAX_PAYLOAD + 1, MAX_PAYLOAD), doc
    bulk = http.post(
        "/jobs/bulk",
        json={
            "queue_name": q,
            "jobs": [{"payload": {}}, {"payload": _payload_of(MAX_PAYLOAD + 1)}],
        },
    )
    expect(bulk, 413, "PAYLOAD_TOO_LARGE")  # the whole batch, not the first item only
    assert expect(http.get("/jobs/stats", params={"queue_name": q}), 200)["total"] == before
    note(
        "job payload at the limit (1 MiB) and 1 byte over, single and bulk",
        "at the limit: 201 and stored intact; over: 413 PAYLOAD_TOO_LARGE, bulk refused whole",
        3,
        "1 MiB accepted byte for byte; 1 MiB + 1 refused with 413 (alone and in a bulk); "
        "no job written",
    )


def test_request_body_over_the_cap_is_413(http: httpx.Client, unchanged: None) -> None:
    big = b'{"queue_name": "q", "payload": "' + b"z" * MAX_BODY + b'"}'
    # Declared up front (Content-Length) and streamed without a length (chunked).
    expect(_raw(http, "POST", "/jobs", big), 413, "PAYLOAD_TOO_LARGE")
    resp = http.post(
        "/jobs",
        content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
        headers={"Content-Type": "application/json"},
    )
    expect(resp, 413, "PAYLOAD_TOO_LARGE")
    note(
        "request body over the 6 MiB cap (declared length and chunked)",
        "413 PAYLOAD_TOO_LARGE before the body is parsed; nothing written",
        2,
    )


def test_bulk_of_exactly_100_is_accepted(http: httpx.Client) -> None:
    q = unique("bulk100")
    doc = expect(
        http.post(
            "/jobs/bulk",
            json={"queue_name": q, "jobs": [{"payload": {"i": i}} for i in range(100)]},
        ),
        200,
    )
    assert (doc["success_count"], doc["failure_count"]) == (100, 0), doc
    assert expect(http.get("/jobs/stats", params={"queue_name": q}), 200)["total"] == 100
    note(
        "bulk enqueue of exactly 100 jobs (the cap; 101 is test_invalid_bodies_rejected)",
        "all 100 created in one call",
        1,
        "100 of 100 created; 101 refused with 400",
    )


def test_batch_status_of_exactly_100_ids_is_accepted(http: httpx.Client) -> None:
    ids = [str(uuid.uuid4()) for _ in range(100)]
    assert expect(http.get("/jobs/status", params={"ids": ",".join(ids)}), 200) == []


# -- deeply nested JSON ----------------------------------------------------------------
DEPTH = 10_000
NESTED_ARRAYS = "[" * DEPTH + "]" * DEPTH
NESTED_OBJECTS = '{"a":' * DEPTH + "1" + "}" * DEPTH


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/jobs", '{"queue_name": "deep", "payload": %s}'),
        ("POST", "/jobs", '{"queue_name": "deep", "payload": {}, "tags": %s}'),
        ("POST", "/jobs", "%s"),
        ("POST", "/jobs/bulk", '{"queue_name": "deep", "jobs": [{"payload": %s}]}'),
        ("POST", "/workers/register", '{"queue_name": "deep", "hostname": "h", "metadata": %s}'),
        ("PUT", "/queues/deep/config", '{"settings": %s}'),
        (
            "POST",
            "/schedules",
            '{"name": "n", "cron_expression": "0 0 * * * *", "queue_name": "deep", '
            '"payload_template": %s}',
        ),
        (
            "POST",
            "/workflows",
            '{"name": "n", "jobs": [{"key": "a", "queue_name": "deep", "payload": %s}]}',
        ),
        ("POST", "/api-keys", '{"name": %s}'),
        ("POST", "/auth/login", '{"api_key": %s}'),
    ],
    ids=[
        "job-payload",
        "job-tags",
        "job-body",
        "bulk-payload",
        "worker-metadata",
        "queue-settings",
        "schedule-template",
        "workflow-payload",
        "api-key-name",
        "login",
    ],
)
def test_deeply_nested_json_is_400(
    http: httpx.Client, method: str, path: str, template: str, unchanged: None
) -> None:
    for nested in (NESTED_ARRAYS, NESTED_OBJECTS):
        resp = _raw(http, method, path, template % nested)
        doc = expect(resp, {400, 413})
        assert doc["code"] in {"INVALID_JSON", "BAD_REQUEST", "VALIDATION_ERROR"}, describe(resp)
    expect(http.get("/schedules"), 200)  # still serving
    note(
        f"JSON nested {DEPTH:,} levels deep (arrays and objects) in every JSON field",
        "400, no recursion crash, nothing written, the gateway keeps serving",
        2,
    )


# -- unicode and null bytes in names ----------------------------------------------------
NUL_NAMES = ["nul\x00byte", "\x00", "tab\there", "new\nline", "rtl\u202eoverride"]


@pytest.mark.parametrize("name", NUL_NAMES, ids=["nul", "only-nul", "tab", "newline", "rtl"])
def test_control_characters_in_names_are_400(
    http: httpx.Client, name: str, unchanged: None
) -> None:
    """Names that a log line, a terminal or Postgres text would mangle are refused."""
    bodies = [
        ("/jobs", {"queue_name": name, "payload": {}}),
        ("/workers/register", {"queue_name": "q", "hostname": name}),
        ("/workers/register", {"queue_name": "q", "hostname": "h", "worker_id": name}),
    ]
    if "\x00" in name:
        # A claim's worker_id is free text upstream (1-255 characters), all but NUL.
        bodies.append(("/jobs/claim", {"queue_name": "q", "worker_id": name}))
    for path, body in bodies:
        expect(http.post(path, json=body), 400)
    # Free-text names: refused when they hold NUL (Postgres text cannot store it).
    if "\x00" in name:
        for path, body in (
            ("/api-keys", {"name": name}),
            (
                "/schedules",
                {
                    "name": name,
                    "cron_expression": "0 0 * * * *",
                    "queue_name": "q",
                    "payload_template": {},
                },
            ),
            (
                "/outgoing-webhooks",
                {"name": name, "url": "https://example.com/hook", "events": ["job.created"]},
            ),
            ("/jobs", {"queue_name": "q", "payload": {}, "idempotency_key": name}),
            ("/jobs", {"queue_name": "q", "payload": {name: 1}}),
            ("/jobs", {"queue_name": "q", "payload": {}, "tags": {"t": name}}),
        ):
            expect(http.post(path, json=body), 400)
    assert expect(http.get("/schedules"), 200) is not None
    note(
        "NUL, tab, newline and RTL override in queue, worker and host names; NUL in free text",
        "400 VALIDATION_ERROR; nothing written",
        len(bodies) + (6 if "\x00" in name else 0),
    )


UNICODE_NAME = "Ünïcødé 名前 🚀"


def test_unicode_names_round_trip_exactly(http: httpx.Client, client: SpooledClient) -> None:
    """Where free text is allowed it comes back byte for byte."""
    hook = expect(
        http.post(
            "/outgoing-webhooks",
            json={
                "name": UNICODE_NAME,
                "url": "https://example.com/hook",
                "events": ["job.created"],
            },
        ),
        201,
    )
    assert expect(http.get(f"/outgoing-webhooks/{hook['id']}"), 200)["name"] == UNICODE_NAME
    expect(http.delete(f"/outgoing-webhooks/{hook['id']}"), 204)
    job = client.jobs.create(
        {
            "queue_name": unique("uni"),
            "payload": {UNICODE_NAME: UNICODE_NAME},
            "tags": {"label": UNICODE_NAME},
            "idempotency_key": UNICODE_NAME + secrets.token_hex(2),
        }
    )
    got = expect(http.get(f"/jobs/{job.id}"), 200)
    assert got["payload"] == {UNICODE_NAME: UNICODE_NAME} and got["tags"] == {"label": UNICODE_NAME}


# -- path traversal in queue names ------------------------------------------------------
TRAVERSALS = [
    "..%2F..%2Fadmin",
    "%2e%2e%2f%2e%2e%2fadmin",
    "%252e%252e%252fadmin",
    "..%5C..%5Cadmin",
    "q%2F..%2F..%2Fjobs",
    "%2E%2E",
    "..",
    "q%00",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_path_traversal_in_queue_paths(
    org: Org, http: httpx.Client, raw: str, unchanged: None
) -> None:
    """Encoded dots and slashes in a queue name never reach another route or tenant."""
    base = f"{org.stack.base_url}/api/v1/queues/"
    with httpx.Client(headers=http.headers, timeout=30) as raw_client:
        for method, suffix, body in (
            ("GET", "", None),
            ("GET", "/stats", None),
            ("PUT", "/config", b'{"max_retries": 1}'),
            ("POST", "/pause", b"{}"),
            ("DELETE", "", None),
        ):
            # Sent byte for byte: httpx would normalise "..".
            url = httpx.URL(base + raw + suffix)
            req = raw_client.build_request(
                method, url, content=body, headers={"Content-Type": "application/json"}
            )
            req.url = url.copy_with(raw_path=(f"/api/v1/queues/{raw}{suffix}").encode())
            resp = raw_client.send(req)
            doc = expect(resp, {400, 404, 405})
            assert "organizations" not in doc and "plans" not in str(doc), describe(resp)
    note(
        "path traversal in queue names (../, %2e%2e%2f, double-encoded, backslash, NUL)",
        "400/404 on every queue route; never another route's answer; nothing written",
        5,
    )


# -- realtime routes: names and ids that no URL can carry -------------------------------
def test_bad_names_in_event_streams(org: Org, http: httpx.Client) -> None:
    base = f"{org.stack.base_url}/api/v1"
    with httpx.Client(headers=http.headers, timeout=30) as raw_client:
        for path, allowed in (
            ("/events/queues/%0B%F0%9D%84%81", {400}),
            ("/events/queues/..%2Fadmin", {400, 404}),
            ("/events/queues/" + "q" * 101, {400}),
            ("/events/jobs/" + "j" * 256, {400}),
        ):
            url = httpx.URL(base + path)
            req = raw_client.build_request("GET", url)
            req.url = url.copy_with(raw_path=(f"/api/v1{path}").encode())
            expect(raw_client.send(req), allowed)
        # A job id with control characters is a valid (unknown) id, not a crash: the
        # stream opens and reports it missing, as for any unknown job.
        url = httpx.URL(base + "/events/jobs/%C3%8E%3C%0D%11")
        with raw_client.stream("GET", url) as resp:
            assert resp.status_code == 200, resp.status_code
            first = next(resp.iter_lines())
            assert first is not None


# -- query strings ----------------------------------------------------------------------
@pytest.mark.parametrize("offset", [2**31, 2**63, 10**30, -5])
def test_any_offset_is_a_page_not_a_crash(http: httpx.Client, offset: int) -> None:
    for path in ("/jobs", "/jobs/dlq", "/schedules", "/workflows", "/webhooks/deliveries"):
        got = expect(http.get(path, params={"offset": offset, "limit": 10}), 200)
        assert isinstance(got, list), got
        assert offset >= 0 or len(got) <= 10


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "tomorrow"])
def test_query_timestamps_must_be_rfc3339(http: httpx.Client, value: str) -> None:
    for path, name in (("/jobs", "created_after"), ("/jobs/dlq", "created_before")):
        expect(http.get(path, params={name: value}), 400, "VALIDATION_ERROR")
    expect(http.get("/jobs", params={"created_after": "2026-01-01T00:00:00Z"}), 200)


# -- numbers JSON allows and 64-bit code does not -----------------------------------
HUGE = '{"n": -44195429518624929886502912}'


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/jobs", '{"queue_name": "huge", "payload": %s}'),
        ("POST", "/jobs", '{"queue_name": "huge", "payload": {}, "tags": %s}'),
        ("POST", "/workers/register", '{"queue_name": "huge", "hostname": "h", "metadata": %s}'),
        ("PUT", "/queues/huge/config", '{"settings": %s}'),
        (
            "POST",
            "/schedules",
            '{"name": "n", "cron_expression": "0 0 * * * *", "queue_name": "huge", '
            '"payload_template": %s}',
        ),
        (
            "POST",
            "/workflows",
            '{"name": "n", "jobs": [{"key": "a", "queue_name": "huge", "payload": %s}]}',
        ),
        ("PUT", "/organizations/{org}", '{"settings": %s}'),
    ],
    ids=["payload", "tags", "metadata", "queue-settings", "schedule", "workflow", "org-settings"],
)
def test_integers_beyond_64_bits_are_400(
    org: Org, http: httpx.Client, method: str, path: str, template: str, unchanged: None
) -> None:
    resp = _raw(http, method, path.format(org=org.id), template % HUGE)
    expect(resp, 400, "VALIDATION_ERROR")
    note(
        "integers beyond 64 bits in JSON documents (payloads, tags, metadata, settings)",
        "400 VALIDATION_ERROR (the fuzzer found a 500 on organization settings); nothing written",
        1,
    )


def test_admin_custom_limits_beyond_64_bits_are_400(org: Org) -> None:
    resp = httpx.patch(
        f"{org.stack.base_url}/api/v1/admin/organizations/{org.id}",
        content='{"custom_limits": {"max_queues": 99999999999999999999999}}',
        headers={"X-Admin-Key": org.stack.admin_key, "Content-Type": "application/json"},
        timeout=30,
    )
    expect(resp, 400, "VALIDATION_ERROR")
