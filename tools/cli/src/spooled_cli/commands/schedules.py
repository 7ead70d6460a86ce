"""``spooledctl schedules``: list, get, create, pause, resume, trigger."""

from __future__ import annotations

from typing import Any

import click

from spooled_cli import output
from spooled_cli.commands.common import client, emit, json_arg


@click.group("schedules")
def group() -> None:
    """Cron schedules (6 fields: seconds first) that enqueue jobs."""


COLUMNS: list[output.Column] = [
    ("id", lambda s: s["id"]),
    ("name", lambda s: s["name"]),
    ("cron", lambda s: s["cron_expression"]),
    ("zone", lambda s: s.get("timezone")),
    ("queue", lambda s: s["queue_name"]),
    ("state", lambda s: output.status("active" if s["is_active"] else "paused")),
    (
        "next fire",
        lambda s: (
            f"{s['next_run_at']} ({output.ago(s['next_run_at'])})"
            if s.get("next_run_at") and s["is_active"]
            else "—"
        ),
    ),
    ("runs", lambda s: s.get("run_count")),
]


@group.command("list")
def list_schedules() -> None:
    """Every schedule with its next fire time."""
    rows = client().get("/schedules", limit=500)
    emit(
        rows,
        lambda d: output.table(d, COLUMNS, empty="No schedules yet (spooledctl schedules create)."),
    )


@group.command("get")
@click.argument("schedule_id")
@click.option("-n", "--runs", default=20, show_default=True, help="Runs of history to show")
def get(schedule_id: str, runs: int) -> None:
    """One schedule and its recent runs."""
    c = client()
    s = c.get(f"/schedules/{schedule_id}")
    history = c.get(f"/schedules/{schedule_id}/history", limit=runs)

    def render(d: dict[str, Any]) -> None:
        output.fields(
            [(name, fn(d)) for name, fn in COLUMNS] + [("last run", d.get("last_run_at"))]
        )
        output.table(
            d["history"],
            [
                ("fired", lambda r: r.get("started_at")),
                ("status", lambda r: output.status(r["status"])),
                ("job", lambda r: r.get("job_id")),
                ("error", lambda r: r.get("error_message")),
            ],
            title="runs",
            empty="It has not fired yet.",
        )

    emit({**s, "history": history}, render)


@group.command("create")
@click.option("--name", required=True)
@click.option("--cron", "cron_expression", required=True, help='6 fields, e.g. "0 */5 * * * *"')
@click.option("-q", "--queue", required=True)
@click.option(
    "-p",
    "--payload",
    default="{}",
    show_default=True,
    help="Job payload template: JSON, @file or -",
)
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone, e.g. Europe/Paris")
@click.option("--priority", type=click.IntRange(-100, 100))
@click.option("--description")
def create(
    name: str,
    cron_expression: str,
    queue: str,
    payload: str,
    timezone: str,
    priority: int | None,
    description: str | None,
) -> None:
    """Create a schedule."""
    body: dict[str, Any] = {
        "name": name,
        "cron_expression": cron_expression,
        "queue_name": queue,
        "payload_template": json_arg(payload, "payload"),
        "timezone": timezone,
    }
    if priority is not None:
        body["priority"] = priority
    if description:
        body["description"] = description
    s = client().post("/schedules", body)
    emit(
        s,
        lambda d: output.console.print(
            f"created schedule [bold]{d['id']}[/bold]; next fire {d.get('next_run_at')}"
        ),
    )


def _action(schedule_id: str, verb: str) -> None:
    s = client().post(f"/schedules/{schedule_id}/{verb}")
    emit(
        s,
        lambda d: output.console.print(
            f"{verb}d [bold]{d['name']}[/bold]: "
            + ("active" if d["is_active"] else "paused")
            + (f", next fire {d['next_run_at']}" if d.get("next_run_at") and d["is_active"] else "")
        ),
    )


@group.command("pause")
@click.argument("schedule_id")
def pause(schedule_id: str) -> None:
    """Stop firing until resumed."""
    _action(schedule_id, "pause")


@group.command("resume")
@click.argument("schedule_id")
def resume(schedule_id: str) -> None:
    """Fire again (next time computed from now)."""
    _action(schedule_id, "resume")


@group.command("trigger")
@click.argument("schedule_id")
def trigger(schedule_id: str) -> None:
    """Enqueue one job from the schedule now."""
    r = client().post(f"/schedules/{schedule_id}/trigger")
    emit(r, lambda d: output.console.print(f"triggered: job [bold]{d['job_id']}[/bold]"))
