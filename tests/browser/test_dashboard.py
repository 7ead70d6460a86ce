"""The console in a real browser: log in, watch a job complete live, retry a dead
letter, pause a queue; every page renders without script errors."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from .conftest import Console, Tenant

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def enqueue(tenant: Tenant, queue: str, **fields: Any) -> str:
    with tenant.http() as c:
        r = c.post("/jobs", json={"queue_name": queue, "payload": {"hello": "world"}, **fields})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def run_one(tenant: Tenant, queue: str, *, fail: str | None = None) -> str:
    """A worker's turn: claim one job of the queue and complete (or fail) it over REST."""
    with tenant.http() as c:
        [job] = c.post(
            "/jobs/claim", json={"queue_name": queue, "worker_id": "ui-worker", "limit": 1}
        ).json()["jobs"]
        body = {"worker_id": "ui-worker", "lease_id": job["lease_id"]}
        if fail:
            r = c.post(f"/jobs/{job['id']}/fail", json={**body, "error": fail})
        else:
            r = c.post(f"/jobs/{job['id']}/complete", json={**body, "result": {"ok": True}})
        assert r.status_code == 200, r.text
        return str(job["id"])


def dead_letter(tenant: Tenant, queue: str) -> str:
    job_id = enqueue(tenant, queue, max_retries=0, priority=100)  # claimed first
    assert run_one(tenant, queue, fail="card declined") == job_id
    return job_id


def test_login_with_an_api_key(console: Console) -> None:
    page = console.page
    page.goto(console.url)
    console.shot("01-login")
    page.fill("[data-testid=api-key]", "sp_test_wrong-key-wrong-key-wrong-key")
    page.click("[data-testid=login]")
    page.wait_for_selector("[data-testid=login-error]:has-text('not accepted')")
    console.errors.clear()  # the browser logs the refused login's 401
    console.login()
    assert page.evaluate("() => sessionStorage.length") == 1  # the JWT pair, not the key
    assert console.tenant.api_key not in page.evaluate("() => JSON.stringify(sessionStorage)")
    page.wait_for_selector("[data-testid=count-pending]")
    console.shot("02-overview")


def test_job_moves_to_completed_live(console: Console) -> None:
    page, tenant = console.page, console.tenant
    queue = unique("live")
    job_id = enqueue(tenant, queue)
    console.login()
    console.go(f"#/jobs/{job_id}")
    page.wait_for_selector("[data-testid=job-status] >> text=pending")
    page.wait_for_selector("[data-testid=diagnose-code] >> text=NO_WORKER")
    page.evaluate("() => { window.__notReloaded = true; }")
    console.shot("03-job-pending")

    assert run_one(tenant, queue) == job_id

    page.wait_for_selector("[data-testid=job-status] >> text=completed", timeout=15_000)
    page.wait_for_selector("[data-testid=diagnose-code] >> text=COMPLETED")
    page.wait_for_selector("[data-testid=attempts] >> text=ui-worker")
    assert page.evaluate("() => window.__notReloaded") is True
    console.shot("04-job-completed-live")

    # The job list updates in place too.
    second = enqueue(tenant, queue)
    console.go(f"#/jobs?queue={queue}")
    row = f"[data-testid=jobs] tr[data-key='{second}']"
    page.wait_for_selector(f"{row} >> text=pending")
    run_one(tenant, queue)
    page.wait_for_selector(f"{row} >> text=completed", timeout=15_000)
    assert page.evaluate("() => window.__notReloaded") is True
    console.shot("05-jobs-list-live")


def test_retry_a_dead_letter(console: Console) -> None:
    page, tenant = console.page, console.tenant
    queue = unique("dlq")
    job_id = dead_letter(tenant, queue)
    console.login()
    console.go(f"#/dlq?queue={queue}")
    row = f"[data-testid=dlq] tr[data-key='{job_id}']"
    page.wait_for_selector(f"{row} >> text=card declined")
    console.shot("06-dlq")
    page.click(f"{row} [data-testid=retry-one]")
    page.wait_for_selector("[data-testid=toast] >> text=Retried 1 job")
    page.wait_for_selector(row, state="detached")
    console.shot("07-dlq-retried")
    with tenant.http() as c:
        job = c.get(f"/jobs/{job_id}").json()
    assert (job["status"], job["retry_count"]) == ("pending", 0)


def test_pause_a_queue(console: Console) -> None:
    page, tenant = console.page, console.tenant
    queue = unique("pause")
    job_id = enqueue(tenant, queue)
    console.login()
    console.go("#/queues")
    page.click(f"[data-testid=pause-{queue}]")
    page.wait_for_selector("dialog.modal")
    console.shot("08-pause-confirm")
    page.click("dialog.modal [data-testid=confirm]")
    page.wait_for_selector(f"[data-testid=queues] tr[data-key='{queue}'] >> text=paused")
    page.wait_for_selector(f"[data-testid=resume-{queue}]")
    console.shot("09-queue-paused")
    with tenant.http() as c:
        assert c.get(f"/queues/{queue}/stats").json()["paused"] is True

    # The job's page says why it is not running.
    console.go(f"#/jobs/{job_id}")
    page.wait_for_selector("[data-testid=diagnose-code] >> text=QUEUE_PAUSED")
    console.shot("10-diagnose-paused")


def test_every_page_renders(console: Console) -> None:
    page, tenant = console.page, console.tenant
    queue = unique("tour")
    for _ in range(3):
        enqueue(tenant, queue)
    run_one(tenant, queue)
    dead_letter(tenant, queue)
    with tenant.http() as c:
        c.post("/workers/register", json={"queue_name": queue, "hostname": "tour-host"})
        c.post(
            "/schedules",
            json={
                "name": "nightly-report",
                "cron_expression": "0 30 2 * * *",
                "timezone": "Europe/Paris",
                "queue_name": queue,
                "payload_template": {"report": "daily"},
            },
        )
    console.login()
    for n, (route, ready) in enumerate(
        [
            ("#/overview", "[data-testid=count-pending]"),
            ("#/queues", "[data-testid=queues]"),
            (f"#/queues/{queue}", "[data-testid=waiting-jobs]"),
            ("#/jobs", "[data-testid=jobs]"),
            ("#/workers", "[data-testid=workers] >> text=tour-host"),
            ("#/schedules", "[data-testid=schedules] >> text=nightly-report"),
            ("#/workflows", "h1:has-text('Workflows')"),
            ("#/webhooks", "h1:has-text('Webhook')"),
        ],
        start=11,
    ):
        console.go(route)
        page.wait_for_selector(ready)
        console.shot(f"{n}-{route.strip('#/').replace('/', '-')}")


def test_workflow_as_a_graph(console: Console) -> None:
    page, tenant = console.page, console.tenant
    queue = unique("etl")
    with tenant.http() as c:
        r = c.post(
            "/workflows",
            json={
                "name": "nightly-etl",
                "jobs": [
                    {"key": "extract", "queue_name": queue, "payload": {}},
                    {
                        "key": "transform",
                        "queue_name": queue,
                        "payload": {},
                        "depends_on": ["extract"],
                    },
                    {
                        "key": "enrich",
                        "queue_name": queue,
                        "payload": {},
                        "depends_on": ["extract"],
                    },
                    {
                        "key": "load",
                        "queue_name": queue,
                        "payload": {},
                        "depends_on": ["transform", "enrich"],
                    },
                ],
            },
        )
        if r.status_code == 404:
            pytest.skip("the workflows API is not deployed")
        assert r.status_code in (200, 201), r.text
        workflow_id = r.json()["workflow_id"]
    run_one(tenant, queue)  # extract completes: transform and enrich become ready
    console.login()
    console.go(f"#/workflows/{workflow_id}")
    page.wait_for_selector("[data-testid=dag]")
    assert page.locator("[data-testid=graph-node]").count() == 4
    page.wait_for_selector("[data-testid=graph-node] >> text=extract")
    console.shot("19-workflow-graph")
    # A blocked step explains itself: load waits on transform and enrich.
    page.click("[data-testid=graph-node] >> text=load")
    page.wait_for_selector("[data-testid=diagnose-code] >> text=WAITING_ON_DEPENDENCY")
    console.shot("20-diagnose-dependency")
