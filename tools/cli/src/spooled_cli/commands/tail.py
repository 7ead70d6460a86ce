"""``spooledctl tail``: follow live events (SSE ``/api/v1/events``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from spooled_cli import output
from spooled_cli.commands.common import client, wants_json

#: Wait before reconnecting after the server ended the stream.
RECONNECT_DELAY_S = 1.0


def line(name: str, env: dict[str, Any]) -> str:
    d = env.get("data") or {}
    stamp = (d.get("timestamp") or "")[11:19]
    job = d.get("job_id") or d.get("worker_id") or ""
    queue = d.get("queue_name") or ""
    what = {
        "JobStatusChange": f"{d.get('old_status') or '?'} → {d.get('new_status')}",
        "JobCompleted": f"completed in {d.get('duration_ms', 0)} ms",
        "JobFailed": f"failed: {d.get('error', '')} (retries {d.get('retry_count', 0)})",
        "JobCreated": f"created (priority {d.get('priority', 0)})",
    }.get(env.get("type", ""), json.dumps(d, separators=(",", ":"))[:120])
    return f"{stamp} {name:<18} {queue:<16} {job:<36} {what}"


@click.command("tail")
@click.option("-q", "--queue", help="Only this queue (globs like emails.* work)")
@click.option("--job", "job_id", help="Only this job")
@click.option("-e", "--events", help="Comma list of event names, e.g. job.completed,job.failed")
@click.option("-n", "--count", type=click.IntRange(1), help="Stop after this many events")
def tail(queue: str | None, job_id: str | None, events: str | None, count: int | None) -> None:
    """Follow live job and worker events until Ctrl-C (JSON lines with --json)."""
    seen = 0
    c = client()
    if not wants_json():
        output.err_console.print("[dim]following live events; Ctrl-C stops[/dim]")
    try:
        while True:
            for name, data in c.stream("/events", queue=queue, job_id=job_id, events=events):
                if name == "reconnect":
                    break
                try:
                    env = json.loads(data)
                except json.JSONDecodeError:
                    continue
                if wants_json():
                    print(json.dumps({"event": name, **env}), flush=True)
                else:
                    output.console.print(line(name, env), markup=False)
                seen += 1
                if count is not None and seen >= count:
                    return
            time.sleep(RECONNECT_DELAY_S)
    except KeyboardInterrupt:
        return
