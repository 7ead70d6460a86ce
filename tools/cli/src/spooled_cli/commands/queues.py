"""``spooledctl queues``: stats, pause, resume."""

from __future__ import annotations

from typing import Any

import click

from spooled_cli import output
from spooled_cli.commands.common import client, emit


@click.group("queues")
def group() -> None:
    """Queue counts and pause/resume."""


@group.command("stats")
@click.argument("name", required=False)
def stats(name: str | None) -> None:
    """Counts of one queue, or of every queue when no name is given."""
    c = client()
    if name:
        s = c.get(f"/queues/{name}/stats")
        emit(
            s,
            lambda d: output.fields(
                [
                    ("queue", d["queue_name"]),
                    ("state", output.status("paused" if d.get("paused") else "active")),
                    ("pending", d["pending_jobs"]),
                    ("scheduled", d.get("scheduled_jobs")),
                    ("processing", d["processing_jobs"]),
                    ("completed 24h", d["completed_jobs_24h"]),
                    ("failed 24h", d["failed_jobs_24h"]),
                    ("dead letters", d.get("deadletter_jobs")),
                    (
                        "avg run time",
                        f"{d['avg_processing_time_ms']:.0f} ms"
                        if d.get("avg_processing_time_ms") is not None
                        else None,
                    ),
                    ("oldest waiting", f"{d['max_job_age_seconds']} s"),
                    ("workers", d["active_workers"]),
                ]
            ),
        )
        return
    queues = c.get("/dashboard", queue_limit=100, throughput_minutes=1)["queues"]

    def render(rows: list[dict[str, Any]]) -> None:
        output.table(
            rows,
            [
                ("queue", lambda q: q["name"]),
                ("state", lambda q: output.status("paused" if q["paused"] else "active")),
                ("pending", lambda q: q["pending"]),
                ("scheduled", lambda q: q.get("scheduled")),
                ("running", lambda q: q["processing"]),
                ("done 24h", lambda q: q.get("completed_24h")),
                ("failed 24h", lambda q: q.get("failed_24h")),
                ("dlq", lambda q: q.get("deadletter")),
            ],
            empty="No queues yet: enqueue a job to create one.",
        )

    emit(queues, render)


@group.command("pause")
@click.argument("name")
@click.option("--reason", help="Shown to operators and in diagnoses")
def pause(name: str, reason: str | None) -> None:
    """Stop handing out the queue's jobs (running ones finish)."""
    r = client().post(f"/queues/{name}/pause", {"reason": reason} if reason else {})
    emit(
        r,
        lambda d: output.console.print(
            f"paused [bold]{d['queue_name']}[/bold] at {d['paused_at']}"
        ),
    )


@group.command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """Hand out the queue's jobs again."""
    r = client().post(f"/queues/{name}/resume")
    emit(
        r,
        lambda d: output.console.print(
            f"resumed [bold]{d['queue_name']}[/bold] after {d['paused_duration_secs']} s"
        ),
    )
