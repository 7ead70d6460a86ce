"""No secret ever reaches a log: every service's captured output, at DEBUG, is searched.

A suite of its own (the session's runs at INFO) starts with known secrets: a database
password in every service's ``DATABASE_URL``, the JWT secret, the internal token, the
admin key and the Stripe webhook secret. The test then signs up, logs in, refreshes,
creates API keys, registers an outgoing webhook with a secret that gets deliveries, sends
incoming webhooks and Stripe events (valid and forged), and tries wrong keys everywhere.
After a graceful stop (so every buffer is flushed), no log file holds any of those values,
nor any API key, JWT or webhook token that was issued or tried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from spooled_testing import reliability
from spooled_testing.postgres import free_port
from spooled_testing.receiver import WebhookReceiver
from spooled_testing.stack import DEV_PORTS, Stack

from .conftest import _PLAN_ENV, _WEBHOOK_ENV, API, expect, wait_for

DB_PASSWORD = "db-pass-" + secrets.token_hex(12)


class PasswordStack(Stack):
    """The usual stack, with a password in the services' DATABASE_URL (the embedded
    server trusts loopback, so it is accepted and ignored: what matters is where it goes)."""

    def _common_env(self) -> dict[str, str]:
        env = super()._common_env()
        scheme, rest = env["DATABASE_URL"].split("://", 1)
        user, host = rest.split("@", 1)
        env["DATABASE_URL"] = f"{scheme}://{user}:{DB_PASSWORD}@{host}"
        return env


@dataclass
class Secrets:
    """Every value that must never be logged, by what it is."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        assert value and len(value) >= 12, (name, value)
        self.values[name] = value


@dataclass
class Run:
    base: Path
    secrets: Secrets
    requests: int
    #: Logged at DEBUG by the services (a control: the scan reads what they wrote).
    receiver: str


def stripe_signature(body: bytes, secret: str) -> str:
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def exercise(stack: Stack, found: Secrets, receiver: WebhookReceiver) -> int:
    """Drive every credential-bearing path once, right and wrong; returns requests sent."""
    sent = 0

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        nonlocal sent
        sent += 1
        return httpx.request(method, f"{stack.base_url}{API}{path}", timeout=30, **kwargs)

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    slug = f"logs-{secrets.token_hex(4)}"
    doc = expect(call("POST", "/organizations", json={"name": "Logs", "slug": slug}), 201)
    key, org_id = doc["api_key"]["key"], doc["organization"]["id"]
    found.add("sign-up API key", key)
    tokens = expect(call("POST", "/auth/login", json={"api_key": key}), 200)
    found.add("access token", tokens["access_token"])
    found.add("refresh token", tokens["refresh_token"])
    refreshed = expect(
        call("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 200
    )
    found.add("refreshed access token", refreshed["access_token"])
    expect(call("GET", "/auth/me", headers=bearer(tokens["access_token"])), 200)
    second = expect(call("POST", "/api-keys", json={"name": "second"}, headers=bearer(key)), 201)[
        "key"
    ]
    found.add("created API key", second)

    wrong_key = "sp_test_" + secrets.token_urlsafe(32)
    found.add("wrong API key", wrong_key)
    expect(call("POST", "/auth/login", json={"api_key": wrong_key}), 401)
    expect(call("GET", "/jobs", headers=bearer(wrong_key)), 401)
    wrong_admin = "admin-" + secrets.token_urlsafe(24)
    found.add("wrong admin key", wrong_admin)
    expect(call("GET", "/admin/stats", headers={"X-Admin-Key": wrong_admin}), 401)
    expect(call("GET", "/admin/stats", headers={"X-Admin-Key": stack.admin_key}), 200)

    hook_secret = "whsec-" + secrets.token_urlsafe(24)
    found.add("outgoing webhook secret", hook_secret)
    hook = expect(
        call(
            "POST",
            "/outgoing-webhooks",
            headers=bearer(key),
            json={
                "name": "logs",
                "url": receiver.url("/hook"),
                "events": ["job.created", "job.completed"],
                "secret": hook_secret,
            },
        ),
        201,
    )
    expect(call("POST", f"/outgoing-webhooks/{hook['id']}/test", headers=bearer(key)), 200)
    job = expect(
        call("POST", "/jobs", headers=bearer(second), json={"queue_name": "logs", "payload": {}}),
        201,
    )
    claimed = expect(
        call(
            "POST",
            "/jobs/claim",
            headers=bearer(key),
            json={"queue_name": "logs", "worker_id": "w"},
        ),
        200,
    )["jobs"]
    assert [j["id"] for j in claimed] == [job["id"]]
    expect(
        call(
            "POST",
            f"/jobs/{job['id']}/complete",
            headers=bearer(key),
            json={"worker_id": "w", "lease_id": claimed[0]["lease_id"], "result": {}},
        ),
        200,
    )
    wait_for(lambda: len(receiver.received("/hook")) >= 3, timeout=60, desc="deliveries")

    token = expect(call("GET", "/organizations/webhook-token", headers=bearer(key)), 200)
    found.add("incoming webhook token", token["webhook_token"])
    custom = f"/webhooks/{org_id}/custom"
    body = {"queue_name": "incoming", "payload": {"n": 1}}
    expect(
        call("POST", custom, json=body, headers={"X-Webhook-Token": token["webhook_token"]}), 200
    )
    wrong_token = "whk_" + secrets.token_urlsafe(24)
    found.add("wrong incoming webhook token", wrong_token)
    expect(call("POST", custom, json=body, headers={"X-Webhook-Token": wrong_token}), 401)

    event = json.dumps({"id": "evt_" + secrets.token_hex(8), "type": "ping", "data": {}}).encode()
    good_sig = stripe_signature(event, stack.stripe_secret)
    found.add("Stripe signature", good_sig.split("v1=")[1])
    call("POST", "/billing/webhook", content=event, headers={"Stripe-Signature": good_sig})
    forged = stripe_signature(event, "whsec_" + secrets.token_urlsafe(16))
    found.add("forged Stripe signature", forged.split("v1=")[1])
    expect(
        call("POST", "/billing/webhook", content=event, headers={"Stripe-Signature": forged}), 400
    )

    # Browsers put the credential in the query string of realtime routes (EventSource,
    # WebSocket): a classic way into access logs.
    for query in (f"token={refreshed['access_token']}", f"api_key={second}"):
        sent += 1
        url = f"{stack.base_url}{API}/events?{query}"
        with httpx.stream("GET", url, timeout=30) as stream:
            assert stream.status_code == 200
            next(stream.iter_lines())

    expect(call("POST", "/auth/logout", headers=bearer(tokens["access_token"])), 204)
    expect(call("GET", "/jobs", headers=bearer(tokens["access_token"])), 401)
    return sent


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    base = Path(tempfile.mkdtemp(prefix="spooled-e2e-logs-"))
    ports = {name: free_port() for name in DEV_PORTS}
    stack = PasswordStack(
        base=base,
        honor_env=False,
        extra_env={**_PLAN_ENV, **_WEBHOOK_ENV, "LOG_LEVEL": "DEBUG"},
        **ports,  # type: ignore[arg-type]
    )
    found = Secrets()
    try:
        stack.start()
        for name in ("jwt_secret", "internal_token", "admin_key"):
            found.add(name, (base / name).read_text().strip())
        found.add("Stripe webhook secret", stack.stripe_secret)
        found.add("database password", DB_PASSWORD)
        found.add("bootstrap API key", stack.api_key)
        with WebhookReceiver() as receiver:
            sent = exercise(stack, found, receiver)
            receiver_address = f"127.0.0.1:{receiver.port}"
    finally:
        stack.stop()  # graceful: every service flushes its output before the scan
    try:
        yield Run(base, found, sent, receiver_address)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _forms(value: str) -> list[str]:
    """The value as logged raw, percent-/JSON-escaped, or base64-encoded."""
    forms = {value, json.dumps(value)[1:-1], base64.b64encode(value.encode()).decode()}
    if len(value) > 24:
        forms.add(value[: len(value) // 2])  # half a secret is a leak too
    return sorted(forms)


def test_no_secret_in_any_service_log(run: Run) -> None:
    logs = sorted((run.base / "logs").glob("*.log"))
    names = {p.stem for p in logs}
    assert {"gateway", "queue-core", "scheduler", "webhooks", "realtime", "billing"} <= names
    text = {p.stem: p.read_text(encoding="utf-8", errors="replace") for p in logs}
    # Not vacuous: the services did log, at DEBUG, about this very traffic.
    assert sum(len(t) for t in text.values()) > 10_000
    assert any("DEBUG" in t for t in text.values())
    assert run.receiver in text["webhooks"], "the deliveries' DEBUG lines are missing"
    leaks = [
        f"{what} in {service}.log"
        for what, value in run.secrets.values.items()
        for form in _forms(value)
        for service, content in text.items()
        if form in content
    ]
    assert not leaks, sorted(set(leaks))
    reliability.record(
        "security",
        "secrets in logs (all services at DEBUG)",
        "no service log holds a password, signing secret, API key, JWT, webhook token or "
        "signature (raw, escaped, base64 or half of one), issued or tried",
        f"{len(run.secrets.values)} secrets searched in {len(logs)} service logs "
        f"({sum(len(t) for t in text.values()):,} characters) after {run.requests} "
        "requests: none found",
        requests=run.requests,
        secrets=len(run.secrets.values),
    )
