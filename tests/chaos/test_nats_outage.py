"""A NATS outage delays webhooks and loses none (issue 4, acceptance; issue 8.2).

NATS is stopped for 30 s while 500 jobs are created, claimed and completed through the
REST API. Their events wait in queue-core's outbox (the test sees them there, unpublished);
when NATS returns, the relay publishes them, the webhooks service's durable consumer picks
them up, and the receiver in this test must get all 500 ``job.completed`` events: exactly
one delivery id per job (a repeat is allowed only with the same id), every one signed
correctly in both schemes.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest
from e2e.conftest import Db, Org, expect, unique
from spooled_testing import reliability
from spooled_testing.receiver import (
    Received,
    WebhookReceiver,
    spooled_signature_ok,
    standard_signature_ok,
    whsec,
)
from spooled_testing.stack import Stack

JOBS = 500
OUTAGE_SECS = 30.0
SECRET = "outage-secret"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _create_claim_complete(http: httpx.Client, queue: str) -> list[str]:
    ids: list[str] = []
    for start in range(0, JOBS, 100):
        body = {
            "queue_name": queue,
            "jobs": [{"payload": {"i": i}} for i in range(start, start + 100)],
        }
        result = expect(http.post("/jobs/bulk", json=body), 200)
        ids += [item["job_id"] for item in result["succeeded"]]
    assert len(ids) == JOBS
    leases: dict[str, str] = {}
    while len(leases) < JOBS:
        claimed = expect(
            http.post(
                "/jobs/claim",
                json={
                    "queue_name": queue,
                    "worker_id": "outage",
                    "limit": 100,
                    "lease_duration_secs": 300,
                },
            ),
            200,
        )["jobs"]
        assert claimed, f"claimed {len(leases)} of {JOBS} jobs, then nothing"
        leases.update({j["id"]: j["lease_id"] for j in claimed})

    def complete(job_id: str) -> None:
        r = http.post(
            f"/jobs/{job_id}/complete",
            json={"worker_id": "outage", "lease_id": leases[job_id], "result": {"ok": True}},
        )
        expect(r, 200)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(complete, ids))
    return ids


def _unpublished(db: Db, org: Org, queue: str) -> int:
    return int(
        db.fetchval(
            "SELECT count(*) FROM core.outbox WHERE organization_id = $1 AND queue_name = $2"
            " AND event_type = 'job.completed' AND published_at IS NULL",
            org.id,
            queue,
            org=org.id,
        )
    )


def test_nats_outage_loses_no_completion_webhook(
    stack: Stack, db: Db, fresh_org: Org, receiver: WebhookReceiver
) -> None:
    assert stack.nats is not None, "the e2e stack runs its own NATS"
    http = fresh_org.http()
    queue = unique("outage")
    expect(
        http.post(
            "/outgoing-webhooks",
            json={
                "name": "outage",
                "url": receiver.url("/done"),
                "events": ["job.completed"],
                "secret": SECRET,
            },
        ),
        201,
    )

    stack.nats.stop()
    down_at = time.monotonic()
    try:
        job_ids = _create_claim_complete(http, queue)
        time.sleep(max(0.0, OUTAGE_SECS - (time.monotonic() - down_at)))
        assert receiver.received() == [], "nothing can be delivered while NATS is down"
        held = _unpublished(db, fresh_org, queue)
        assert held == JOBS, f"the outbox holds {held} of {JOBS} completion events"
    finally:
        stack.nats.start()
    back_at = time.monotonic()

    def all_jobs_seen(reqs: list[Received]) -> bool:
        return len({r.json()["data"]["job_id"] for r in reqs}) >= JOBS

    got = receiver.wait_for(all_jobs_seen, timeout=55, desc=f"{JOBS} completion events")
    caught_up = time.monotonic() - back_at

    ids_per_job: dict[str, set[str]] = defaultdict(set)
    for r in got:
        body = r.json()
        assert body["event"] == "job.completed" and r.headers["x-spooled-event"] == "job.completed"
        assert body["id"] == r.headers["webhook-id"]
        assert spooled_signature_ok(SECRET, r), "X-Spooled-Signature does not verify"
        assert standard_signature_ok(whsec(SECRET), r), "webhook-signature does not verify"
        ids_per_job[body["data"]["job_id"]].add(r.headers["webhook-id"])
    assert set(ids_per_job) == set(job_ids), "some completion events were lost"
    repeated = {job: ids for job, ids in ids_per_job.items() if len(ids) != 1}
    assert not repeated, f"jobs delivered under several delivery ids: {repeated}"
    assert len({i for ids in ids_per_job.values() for i in ids}) == JOBS
    assert _unpublished(db, fresh_org, queue) == 0
    reliability.record(
        "dependency faults",
        f"NATS stopped for {OUTAGE_SECS:.0f} s while {JOBS} jobs ran",
        "events wait in the outbox; after NATS returns every job.completed webhook is "
        "delivered, one delivery id per job, signatures valid",
        f"{held} events held in the outbox; all {JOBS} webhooks delivered "
        f"{caught_up:.1f} s after NATS returned",
        sent=JOBS,
        acknowledged=len(job_ids),
        completed=len(job_ids),
        lost=JOBS - len(ids_per_job),
        webhooks_delivered=len(ids_per_job),
        duplicates=len(repeated),
    )
