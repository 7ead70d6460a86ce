"""``/jobs/dlq``: list, retry, purge (API.md §5) against a real queue-core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from core_stack import Api

pytest_plugins = ["core_stack"]


async def test_list_dead_letters(api: Api) -> None:
    first = await api.dead_letter("a", {"job_type": "email"})
    second = await api.dead_letter("b")
    await api.enqueue("a")  # pending: not listed
    r = await api.client.get("/jobs/dlq")
    assert r.status_code == 200 and r.headers["x-has-more"] == "false"
    rows = r.json()
    assert [row["id"] for row in rows] == [second, first]
    assert rows[1]["status"] == "deadletter" and rows[1]["last_error"] == "boom"
    assert rows[1]["job_type"] == "email"
    only_a = await api.client.get("/jobs/dlq", params={"queue_name": "a"})
    assert [row["id"] for row in only_a.json()] == [first]
    paged = await api.client.get("/jobs/dlq", params={"limit": 1})
    assert len(paged.json()) == 1 and paged.headers["x-has-more"] == "true"


async def test_retry_by_ids(api: Api) -> None:
    dead = await api.dead_letter()
    other = await api.dead_letter()
    r = await api.client.post("/jobs/dlq/retry", json={"job_ids": [dead, "missing"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["retried_count"] == 1 and body["retried_jobs"] == [dead]
    assert body["job_ids"] == [dead]
    # Ids not retried (unknown here) may be reported as skipped; never as retried.
    assert dead not in body["skipped_jobs"]
    job = (await api.client.get(f"/jobs/{dead}")).json()
    assert job["status"] == "pending" and job["retry_count"] == 0
    assert (await api.client.get(f"/jobs/{other}")).json()["status"] == "deadletter"


async def test_retry_by_queue_and_limit(api: Api) -> None:
    a1, a2 = await api.dead_letter("a"), await api.dead_letter("a")
    b = await api.dead_letter("b")
    r = await api.client.post("/jobs/dlq/retry", json={"queue_name": "a", "limit": 1})
    assert r.json()["retried_jobs"] == [a1]  # oldest first
    r = await api.client.post("/jobs/dlq/retry", json={})
    assert set(r.json()["retried_jobs"]) == {a2, b}


async def test_purge_requires_confirm(api: Api) -> None:
    await api.dead_letter()
    for body in ({}, {"confirm": False}, {"queue_name": "q"}):
        r = await api.client.post("/jobs/dlq/purge", json=body)
        assert r.status_code == 400
        assert r.json()["message"] == "Must set 'confirm: true' to purge dead-letter queue"
    assert await api.count(where="AND status = 'deadletter'") == 1


async def test_purge(api: Api) -> None:
    await api.dead_letter("a")
    await api.dead_letter("b")
    keep = await api.enqueue("a")
    r = await api.client.post(
        "/jobs/dlq/purge",
        json={"confirm": True, "queue_name": "a", "older_than": "2999-01-01T00:00:00+00:00"},
    )
    assert r.json() == {"purged_count": 1}
    r = await api.client.post(
        "/jobs/dlq/purge", json={"confirm": True, "older_than": "2000-01-01T00:00:00Z"}
    )
    assert r.json() == {"purged_count": 0}
    r = await api.client.post("/jobs/dlq/purge", json={"confirm": True})
    assert r.json() == {"purged_count": 1}
    assert await api.count() == 1
    assert (await api.client.get(f"/jobs/{keep}")).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/jobs/dlq/retry", {"job_ids": "abc"}),
        ("/jobs/dlq/retry", {"job_ids": [str(i) for i in range(101)]}),
        ("/jobs/dlq/retry", {"limit": 0}),
        ("/jobs/dlq/retry", {"queue_name": "../x"}),
        ("/jobs/dlq/retry", {"everything": True}),
        ("/jobs/dlq/purge", {"confirm": True, "limit": 10_001}),
        ("/jobs/dlq/purge", {"confirm": "true"}),
        ("/jobs/dlq/purge", {"confirm": True, "older_than": "last week"}),
        ("/jobs/dlq/purge", b"{"),
    ],
)
async def test_bad_bodies_change_nothing(api: Api, path: str, body: Any) -> None:
    dead = await api.dead_letter()
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = await api.client.post(path, **kwargs)
    assert r.status_code == 400, r.text
    assert (await api.client.get(f"/jobs/{dead}")).json()["status"] == "deadletter"


async def test_scoped_key_must_name_its_queue(api: Api) -> None:
    """real_auth_later."""
    mine = await api.dead_letter("mine")
    theirs = await api.dead_letter("theirs")
    async with api.scoped("mine") as scoped:
        assert (await scoped.post("/jobs/dlq/retry", json={})).status_code == 403
        assert (await scoped.post("/jobs/dlq/purge", json={"confirm": True})).status_code == 403
        r = await scoped.post("/jobs/dlq/retry", json={"queue_name": "theirs"})
        assert r.status_code == 403
        listed = await scoped.get("/jobs/dlq")
        assert [row["id"] for row in listed.json()] == [mine]
        r = await scoped.post("/jobs/dlq/retry", json={"job_ids": [theirs, mine]})
        assert r.json()["retried_jobs"] == [mine]
    assert (await api.client.get(f"/jobs/{theirs}")).json()["status"] == "deadletter"
