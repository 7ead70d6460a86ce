"""Lease edge cases through the official SDK's REST client (issue 8.3).

* a worker that stalls past its lease and then completes gets 409 ``LEASE_EXPIRED``; the
  job is re-claimed and completed by another worker, once — the late worker's retry after
  that is refused too;
* a job heartbeated by its worker stays leased across several lease lengths: nobody else
  can claim it, no retry is charged, and its worker completes it;
* deregistering a worker hands its in-flight jobs back at once (long before their leases
  run out), without charging a retry; the deregistered worker can no longer settle them.

(The gRPC spellings of the first case are in tests/e2e/test_sdk_grpc.py.)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from e2e.conftest import Db, Org, claim, unique, wait_for
from spooled import ConflictError
from spooled.errors import is_lease_expired
from spooled_testing import reliability

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LEASE_S = 5


def _history(db: Db, org: Org, job_id: str) -> list[str]:
    rows = db.fetch(
        "SELECT event_type FROM core.job_history WHERE job_id = $1 ORDER BY id",
        job_id,
        org=org.id,
    )
    return [r["event_type"] for r in rows]


def test_stalled_worker_gets_409_and_the_job_completes_once(db: Db, fresh_org: Org) -> None:
    client = fresh_org.client()
    q = unique("stall")
    job_id = client.jobs.create({"queue_name": q, "payload": {"x": 1}, "max_retries": 3}).id
    [job] = claim(client, q, worker_id="stalled", lease=LEASE_S)
    assert job.id == job_id and job.lease_expires_at is not None
    # The worker stalls (a GC pause, a hung call) past its lease.
    time.sleep(max(0.0, (job.lease_expires_at - datetime.now(UTC)).total_seconds()) + 1)

    with pytest.raises(ConflictError) as late:
        client.jobs.complete(job_id, {"worker_id": "stalled", "lease_id": job.lease_id})
    assert is_lease_expired(late.value), late.value
    assert client.jobs.get(job_id).status != "completed"

    again = wait_for(
        lambda: claim(client, q, worker_id="rescuer", lease=30),
        timeout=60,
        desc="the expired job claimed again",
    )
    assert [j.id for j in again] == [job_id] and again[0].lease_id != job.lease_id
    client.jobs.complete(
        job_id, {"worker_id": "rescuer", "lease_id": again[0].lease_id, "result": {"by": "r"}}
    )
    # The stalled worker wakes up again and retries its completion: still refused.
    with pytest.raises(ConflictError):
        client.jobs.complete(
            job_id, {"worker_id": "stalled", "lease_id": job.lease_id, "result": {"by": "s"}}
        )

    final = client.jobs.get(job_id)
    assert (final.status, final.result) == ("completed", {"by": "r"})
    assert final.retry_count == 1, "the expired lease is charged as one retry"
    history = _history(db, fresh_org, job_id)
    assert history.count("completed") == 1, history
    reliability.record(
        "lease edge cases",
        "a worker stalls past its lease, then completes",
        "409 LEASE_EXPIRED; the job is re-claimed and completed once by another worker; the "
        "stalled worker's later retry is refused too",
        f"409 {late.value.code}; re-claimed with a new lease, completed once "
        f"(history: {', '.join(history)})",
        completed=1,
        duplicates=history.count("completed") - 1,
    )


def test_heartbeats_keep_a_long_job_leased(db: Db, fresh_org: Org) -> None:
    client = fresh_org.client()
    q = unique("long")
    job_id = client.jobs.create({"queue_name": q, "payload": {"long": True}}).id
    [job] = claim(client, q, worker_id="patient", lease=LEASE_S)
    started = time.monotonic()
    beats = 0
    # Three lease lengths and more, heartbeating at 2 s with 5 s leases.
    while time.monotonic() - started < 3 * LEASE_S + 2:
        time.sleep(2)
        client.jobs.heartbeat(
            job_id,
            {"worker_id": "patient", "lease_id": job.lease_id, "lease_duration_secs": LEASE_S},
        )
        beats += 1
        assert claim(client, q, worker_id="thief", lease=30) == [], "a leased job was handed out"
    held = time.monotonic() - started

    got = client.jobs.get(job_id)
    assert (got.status, got.retry_count) == ("processing", 0)
    client.jobs.complete(job_id, {"worker_id": "patient", "lease_id": job.lease_id})
    assert client.jobs.get(job_id).status == "completed"
    history = _history(db, fresh_org, job_id)
    assert "lease_expired" not in history and history.count("completed") == 1, history
    reliability.record(
        "lease edge cases",
        "a long job heartbeats its lease",
        "the job stays leased across several lease lengths: no other claim gets it, no retry "
        "charged, its worker completes it",
        f"held {held:.0f} s on {LEASE_S} s leases with {beats} heartbeats; completed once, "
        "retry_count 0",
        completed=1,
        duplicates=0,
    )


def test_deregister_releases_in_flight_jobs(db: Db, fresh_org: Org) -> None:
    client = fresh_org.client()
    q = unique("dereg")
    worker = client.workers.register({"queue_name": q, "hostname": "leaving"}).id
    ids = {client.jobs.create({"queue_name": q, "payload": {"i": i}}).id for i in range(3)}
    held = claim(client, q, worker_id=worker, limit=3, lease=600)
    assert {j.id for j in held} == ids

    client.workers.deregister(worker)
    # Back at once: a 10-minute lease would otherwise keep them for 10 minutes.
    again = claim(client, q, worker_id="successor", limit=3, lease=30)
    assert {j.id for j in again} == ids, "deregister did not release the in-flight jobs"
    for j in held:
        with pytest.raises(ConflictError) as refused:
            client.jobs.complete(j.id, {"worker_id": worker, "lease_id": j.lease_id})
        assert is_lease_expired(refused.value), refused.value
    for j in again:
        assert j.retry_count == 0, "a released job is not charged a retry"
        client.jobs.complete(j.id, {"worker_id": "successor", "lease_id": j.lease_id})
    assert client.workers.get(worker).status == "offline"
    completions = sum(_history(db, fresh_org, i).count("completed") for i in ids)
    assert completions == len(ids)
    reliability.record(
        "lease edge cases",
        "a worker deregisters with jobs in flight",
        "its jobs are released at once (not after the lease), without a retry charged; the "
        "deregistered worker can no longer settle them",
        f"{len(ids)} jobs on 600 s leases claimed again immediately by another worker and "
        "completed once each; the old leases answer 409 LEASE_EXPIRED",
        completed=completions,
        duplicates=completions - len(ids),
    )
