"""spooledctl against the running suite: the installed entry point, as an operator runs it.

Each call is a real process (``spooledctl ...``) configured only through
``SPOOLED_URL`` / ``SPOOLED_API_KEY`` (or flags), so configuration, output
(tables and ``--json``), exit codes and error hints are all under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import WORKER, Org, claim, make_deadletter, unique, wait_for

SPOOLEDCTL = str(Path(sys.executable).parent / "spooledctl")


def ctl(
    org: Org,
    *args: str,
    key: str | None = None,
    input: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLED_")}
    base.update(SPOOLED_URL=org.stack.base_url, SPOOLED_API_KEY=key or org.api_key, COLUMNS="200")
    base.update(env or {})
    out = subprocess.run(
        [SPOOLEDCTL, *args], env=base, input=input, capture_output=True, text=True, timeout=60
    )
    if check:
        assert out.returncode == 0, (
            f"spooledctl {' '.join(args)} → {out.returncode}\n{out.stdout}\n{out.stderr}"
        )
    return out


def js(org: Org, *args: str, **kw: Any) -> Any:
    return json.loads(ctl(org, "--json", *args, **kw).stdout)


class TestJobs:
    def test_create_get_list_diagnose_cancel(self, org: Org) -> None:
        queue = unique("cli")
        created = js(
            org,
            "jobs",
            "create",
            "-q",
            queue,
            "-p",
            '{"to": "a@example.com"}',
            "--priority",
            "7",
            "--tag",
            "team=core",
            "--idempotency-key",
            unique("k"),
        )
        assert created["created"] is True
        job = js(org, "jobs", "get", created["id"], "--history")
        assert (job["queue_name"], job["priority"], job["payload"]) == (
            queue,
            7,
            {"to": "a@example.com"},
        )
        assert [e["event_type"] for e in job["history"]] == ["created"]

        rows = js(
            org, "jobs", "list", "-q", queue, "-s", "pending", "--tag", "team", "--since", "10m"
        )
        assert [r["id"] for r in rows] == [created["id"]]
        assert js(org, "jobs", "list", "-q", queue, "-s", "completed") == []

        d = js(org, "jobs", "diagnose", created["id"])
        assert d["blocker"]["code"] == "NO_WORKER" and queue in d["blocker"]["message"]
        readable = ctl(org, "jobs", "diagnose", created["id"]).stdout
        assert "NO_WORKER" in readable and "start a worker" in readable

        assert js(org, "jobs", "cancel", created["id"]) == {"ok": [created["id"]], "failed": []}
        again = ctl(org, "jobs", "cancel", created["id"], check=False)
        assert again.returncode == 1
        assert "409" in again.stderr and "jobs diagnose" in again.stderr

    def test_payload_from_stdin_and_a_delay(self, org: Org) -> None:
        queue = unique("cli")
        created = js(org, "jobs", "create", "-q", queue, "-p", "-", "--at", "10m", input='{"n": 5}')
        job = js(org, "jobs", "get", created["id"])
        assert job["status"] == "scheduled" and job["payload"] == {"n": 5}
        assert js(org, "jobs", "diagnose", created["id"])["blocker"]["code"] == "SCHEDULED"

    def test_retry_many_with_a_progress_bar(self, org: Org) -> None:
        client = org.client()
        queue = unique("cli")
        dead = [make_deadletter(client, queue) for _ in range(3)]
        out = ctl(org, "jobs", "retry", *dead, "no-such-job", check=False)
        assert out.returncode == 1
        assert "retry: 3 ok, 1 failed" in out.stdout and "no-such-job" in out.stdout
        assert "4/4" in out.stderr  # the progress bar's final state
        statuses = {client.jobs.get(j).status for j in dead}
        assert statuses == {"pending"}

    def test_readable_table(self, org: Org) -> None:
        queue = unique("cli")
        job_id = js(org, "jobs", "create", "-q", queue)["id"]
        table = ctl(org, "jobs", "list", "-q", queue).stdout
        assert job_id in table and "pending" in table and "queue" in table.splitlines()[0]


class TestDeadLetters:
    def test_list_retry_by_queue_and_purge(self, org: Org) -> None:
        client = org.client()
        queue = unique("dlq")
        dead = {make_deadletter(client, queue) for _ in range(3)}
        listed = js(org, "dlq", "list", "-q", queue)
        assert {j["id"] for j in listed} == dead

        out = ctl(org, "--json", "dlq", "retry", "-q", queue, "--limit", "2")
        assert json.loads(out.stdout)["retried_count"] == 2 and "2/2" in out.stderr
        assert len(js(org, "dlq", "list", "-q", queue)) == 1

        refused = ctl(org, "dlq", "purge", "-q", queue, input="n\n", check=False)
        assert refused.returncode == 1 and "Nothing purged" in refused.stderr
        assert js(org, "dlq", "purge", "-q", queue, "--yes") == {"purged_count": 1}
        assert js(org, "dlq", "list", "-q", queue) == []

    def test_retry_needs_a_target(self, org: Org) -> None:
        out = ctl(org, "dlq", "retry", check=False)
        assert out.returncode == 1 and "--queue NAME or --all" in out.stderr


class TestQueues:
    def test_stats_pause_resume(self, org: Org) -> None:
        queue = unique("q")
        js(org, "jobs", "create", "-q", queue)
        assert js(org, "queues", "stats", queue)["pending_jobs"] == 1
        assert queue in {q["name"] for q in js(org, "queues", "stats")}

        paused = js(org, "queues", "pause", queue, "--reason", "maintenance")
        assert paused["paused"] is True and paused["reason"] == "maintenance"
        assert js(org, "queues", "stats", queue)["paused"] is True
        resumed = js(org, "queues", "resume", queue)
        assert resumed["resumed"] is True
        table = ctl(org, "queues", "stats").stdout
        assert queue in table and "active" in table

    def test_unknown_queue_says_what_to_do(self, org: Org) -> None:
        out = ctl(org, "queues", "pause", unique("nope"), check=False)
        assert out.returncode == 1 and "404" in out.stderr and "hint:" in out.stderr


class TestSchedules:
    def test_lifecycle(self, org: Org) -> None:
        queue = unique("sched")
        created = js(
            org,
            "schedules",
            "create",
            "--name",
            unique("nightly"),
            "--cron",
            "0 0 3 * * *",
            "-q",
            queue,
            "-p",
            '{"report": true}',
            "--timezone",
            "Europe/Paris",
        )
        sid = created["id"]
        assert created["next_run_at"]
        assert sid in {s["id"] for s in js(org, "schedules", "list")}
        assert js(org, "schedules", "pause", sid)["is_active"] is False
        assert js(org, "schedules", "resume", sid)["is_active"] is True
        job_id = js(org, "schedules", "trigger", sid)["job_id"]
        assert js(org, "jobs", "get", job_id)["payload"] == {"report": True}
        detail = wait_for(
            lambda: (d := js(org, "schedules", "get", sid)) and d["history"] and d,
            timeout=10,
            desc="a run in the schedule's history",
        )
        assert detail["history"][0]["job_id"] == job_id


class TestTail:
    def test_follows_a_job_through_its_life(self, org: Org) -> None:
        queue = unique("tail")
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLED_")}
        base.update(SPOOLED_URL=org.stack.base_url, SPOOLED_API_KEY=org.api_key)
        proc = subprocess.Popen(
            [SPOOLEDCTL, "--json", "tail", "-q", queue, "-n", "3"],
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        try:
            client = org.client()
            time.sleep(1.5)  # the stream is open before the job exists
            job_id = client.jobs.create({"queue_name": queue, "payload": {}}).id
            [job] = claim(client, queue)
            client.jobs.complete(job_id, {"worker_id": WORKER, "lease_id": job.lease_id})
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(5)
        events = [json.loads(line) for line in lines]
        assert [e["event"] for e in events] == ["job.created", "job.status", "job.completed"]
        assert {e["data"]["job_id"] for e in events} == {job_id}


class TestConfigAndErrors:
    def test_flags_override_the_environment(self, org: Org) -> None:
        out = ctl(
            org,
            "--url",
            org.stack.base_url,
            "--api-key",
            org.api_key,
            "--json",
            "jobs",
            "list",
            "-n",
            "1",
            env={"SPOOLED_URL": "http://127.0.0.1:1"},
        )
        assert isinstance(json.loads(out.stdout), list)

    def test_refused_key(self, org: Org) -> None:
        out = ctl(org, "jobs", "list", key="sp_test_not-a-real-key", check=False)
        assert out.returncode == 1 and "401" in out.stderr and "SPOOLED_API_KEY" in out.stderr

    def test_no_key(self, org: Org) -> None:
        out = ctl(org, "jobs", "list", check=False, env={"SPOOLED_API_KEY": ""})
        assert out.returncode == 1 and "No API key" in out.stderr

    def test_unreachable(self, org: Org) -> None:
        out = ctl(org, "jobs", "list", check=False, env={"SPOOLED_URL": "http://127.0.0.1:9"})
        assert (
            out.returncode == 3
            and "Cannot reach Spooled" in out.stderr
            and "SPOOLED_URL" in out.stderr
        )

    def test_bad_payload(self, org: Org) -> None:
        out = ctl(org, "jobs", "create", "-q", "x", "-p", "{nope", check=False)
        assert out.returncode == 1 and "not valid JSON" in out.stderr and "@file.json" in out.stderr

    def test_bad_usage_is_exit_2(self, org: Org) -> None:
        out = ctl(org, "jobs", "list", "--status", "bogus", check=False)
        assert out.returncode == 2 and "bogus" in out.stderr

    @pytest.mark.parametrize("args", [["--help"], ["jobs", "--help"], ["--version"]])
    def test_help(self, org: Org, args: list[str]) -> None:
        assert ctl(org, *args).stdout
