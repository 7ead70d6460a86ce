"""Incoming webhook verification and job mapping, without I/O."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest
from spooled_common import errors
from spooled_webhooks.inbound import jobs, verify

BODY = b'{"id":"evt_1","type":"customer.subscription.updated","data":{"object":{"x":1}}}'


def stripe_header(ts: int, secret: str = "sk", body: bytes = BODY) -> str:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class TestStripe:
    def check(self, header: str, now: float = 1000.0) -> None:
        verify.verify_stripe("sk", BODY, {"stripe-signature": header}, now=now, tolerance=300)

    def test_valid_within_tolerance(self) -> None:
        self.check(stripe_header(1000))
        self.check(stripe_header(700))  # exactly 300 s old
        self.check(stripe_header(1299))

    @pytest.mark.parametrize(
        "header",
        [
            stripe_header(699),  # replay: 301 s old
            stripe_header(1301),
            stripe_header(1000, secret="other"),
            stripe_header(1000, body=b"{}"),
            "",
            "t=1000",
            "v1=deadbeef",
            "t=abc,v1=deadbeef",
        ],
    )
    def test_refused(self, header: str) -> None:
        with pytest.raises(errors.Unauthorized):
            self.check(header)

    def test_any_v1_may_match(self) -> None:
        good = stripe_header(1000).split(",")[1]
        self.check(f"t=1000,v1=00ff,{good},v0=ignored")

    def test_header_parsing(self) -> None:
        assert verify.parse_stripe_header(" t=5 , v1=AB,v1=cd,x=y") == (5, ["ab", "cd"])


class TestGithubAndCustom:
    def test_github(self) -> None:
        sig = "sha256=" + hmac.new(b"gs", b"{}", hashlib.sha256).hexdigest()
        verify.verify_github("gs", b"{}", {"x-hub-signature-256": sig})
        verify.verify_github(
            "gs", b"{}", {"x-hub-signature-256": sig.upper().replace("SHA256", "sha256")}
        )
        for bad in ("", sig[:-1], "sha1=" + sig[7:]):
            with pytest.raises(errors.Unauthorized):
                verify.verify_github("gs", b"{}", {"x-hub-signature-256": bad})

    def test_custom(self) -> None:
        verify.verify_custom("whk_t", {"x-webhook-token": "whk_t"})
        for headers in ({}, {"x-webhook-token": "whk_T"}, {"x-webhook-token": ""}):
            with pytest.raises(errors.Unauthorized):
                verify.verify_custom("whk_t", headers)

    def test_unknown_provider(self) -> None:
        with pytest.raises(errors.NotFound):
            verify.verify("gitlab", "x", b"", {}, now=0, stripe_tolerance=300)


class TestJobs:
    def test_provider_queues(self) -> None:
        assert jobs.provider_queue("github", "pull_request") == "github-pull_request"
        assert (
            jobs.provider_queue("stripe", "invoice.payment_failed")
            == "stripe-invoice-payment_failed"
        )
        assert jobs.provider_queue("github", "a/b c") == "github-a-b-c"
        assert jobs.provider_queue("github", "") == "github-event"
        assert len(jobs.provider_queue("github", "x" * 300)) == 100

    def test_stripe_job(self) -> None:
        job = jobs.stripe_job(BODY, 1000)
        assert job.queue_name == "stripe-customer-subscription-updated"
        assert orjson.loads(job.payload) == {"x": 1}
        assert job.idempotency_key == "stripe:evt_1" and job.provider_event_id == "evt_1"
        with pytest.raises(errors.BadRequest):
            jobs.stripe_job(b"[1]", 1000)
        with pytest.raises(errors.BadRequest):
            jobs.stripe_job(b"{nope", 1000)

    def test_github_job_needs_the_event_header(self) -> None:
        with pytest.raises(errors.BadRequest):
            jobs.github_job(b"{}", {}, 1000)
        job = jobs.github_job(b'{"a":1}', {"x-github-event": "ping"}, 1000)
        assert job.idempotency_key is None and job.queue_name == "github-ping"

    @pytest.mark.parametrize(
        ("doc", "ok"),
        [
            ({"queue_name": "a.b-c_d", "payload": None}, True),
            ({"queue_name": "Default", "payload": 1}, False),
            ({"queue_name": ".hidden", "payload": 1}, False),
            ({"queue_name": "a..b", "payload": 1}, False),
            ({"queue_name": "q", "payload": 1, "idempotency_key": ""}, False),
            ({"queue_name": "q", "payload": 1, "priority": "1"}, False),
        ],
    )
    def test_custom_bodies(self, doc: dict[str, Any], ok: bool) -> None:
        if ok:
            assert jobs.custom_job(orjson.dumps(doc), 1000).event_type == "custom"
        else:
            with pytest.raises(errors.ValidationError):
                jobs.custom_job(orjson.dumps(doc), 1000)
