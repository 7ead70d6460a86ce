"""The daily job limit under concurrency, through the public API.

Fifty bulk enqueues of 100 jobs race each other against a limit of 1,000 jobs
per day: exactly 1,000 jobs are admitted (ten whole batches), the other forty
requests get 429 QUOTA_EXCEEDED, and billing's counter, the database and the
usage endpoint all say 1,000.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import API, Db, Org, expect, unique
from .test_limits import set_limits

LIMIT = 1_000
REQUESTS = 50
BATCH = 100


def test_fifty_parallel_bulks_admit_exactly_the_daily_limit(fresh_org: Org, db: Db) -> None:
    set_limits(fresh_org, max_jobs_per_day=LIMIT, max_active_jobs=None)
    queue = unique("race")
    body = {"queue_name": queue, "jobs": [{"payload": {"i": i}} for i in range(BATCH)]}

    def one(_: int) -> httpx.Response:
        with httpx.Client(
            base_url=fresh_org.stack.base_url + API,
            timeout=60,
            headers={"Authorization": f"Bearer {fresh_org.api_key}"},
        ) as c:
            return c.post("/jobs/bulk", json=body)

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(one, range(REQUESTS)))

    admitted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(admitted) + len(refused) == REQUESTS, [r.status_code for r in answers]
    assert sum(len(r.json()["succeeded"]) for r in admitted) == LIMIT
    assert len(admitted) == LIMIT // BATCH
    for r in refused:
        doc = expect(r, 429, "QUOTA_EXCEEDED")
        assert doc["resource"] == "jobs_per_day" and doc["limit"] == LIMIT
        assert doc["current"] + BATCH > LIMIT

    in_db = db.fetchval(
        "SELECT count(*) FROM core.jobs WHERE organization_id = $1 AND queue_name = $2",
        fresh_org.id,
        queue,
        org=fresh_org.id,
    )
    assert in_db == LIMIT
    usage = expect(fresh_org.http().get("/organizations/usage"), 200)
    assert usage["usage"]["jobs_today"] == {
        "current": LIMIT,
        "limit": LIMIT,
        "percentage": 100.0,
        "is_disabled": False,
    }
    # Full: not one more today, by any path.
    expect(fresh_org.http().post("/jobs", json={"queue_name": queue, "payload": {}}), 429)
