"""``spooledctl jobs``: create, get, list, cancel, retry, diagnose."""

from __future__ import annotations

from typing import Any

import click

from spooled_cli import output
from spooled_cli.client import ApiError, CliError
from spooled_cli.commands.common import client, emit, future, json_arg, kv_pairs, when

STATUSES = ["pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled"]


@click.group("jobs")
def group() -> None:
    """Create, inspect and act on jobs."""


@group.command("create")
@click.option("-q", "--queue", required=True, help="Queue name")
@click.option(
    "-p", "--payload", default="{}", show_default=True, help="JSON, @file.json or - for stdin"
)
@click.option("--priority", type=click.IntRange(-100, 100), help="-100..100 (higher runs first)")
@click.option("--max-retries", type=click.IntRange(0, 100))
@click.option("--timeout-seconds", type=click.IntRange(1, 86400))
@click.option("--at", "scheduled_at", help="Run at (RFC 3339) or after a delay: 10m, 2h")
@click.option("--expires", "expires_at", help="Drop if not started by (RFC 3339 or 1h, 2d)")
@click.option("--idempotency-key", help="Same key, same job (no duplicate)")
@click.option("--tag", "tags", multiple=True, help="key=value (repeatable)")
def create(
    queue: str,
    payload: str,
    priority: int | None,
    max_retries: int | None,
    timeout_seconds: int | None,
    scheduled_at: str | None,
    expires_at: str | None,
    idempotency_key: str | None,
    tags: tuple[str, ...],
) -> None:
    """Enqueue one job."""
    body: dict[str, Any] = {"queue_name": queue, "payload": json_arg(payload, "payload")}
    extra = {
        "priority": priority,
        "max_retries": max_retries,
        "timeout_seconds": timeout_seconds,
        "scheduled_at": future(scheduled_at),
        "expires_at": future(expires_at),
        "idempotency_key": idempotency_key,
        "tags": kv_pairs(tags, "tag") or None,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    created = client().post("/jobs", body)
    emit(
        created,
        lambda d: output.console.print(
            f"{'created' if d['created'] else 'already exists (idempotency key)'}: [bold]{d['id']}[/bold]"
        ),
    )


def show_job(job: dict[str, Any]) -> None:
    output.fields(
        [
            ("id", job["id"]),
            ("queue", job["queue_name"]),
            ("status", output.status(job["status"])),
            ("priority", job["priority"]),
            ("attempts", f"{job['retry_count']} retries of {job['max_retries']}"),
            ("created", f"{job['created_at']} ({output.ago(job['created_at'])})"),
            ("scheduled", job.get("scheduled_at")),
            ("started", job.get("started_at")),
            ("finished", job.get("completed_at")),
            ("expires", job.get("expires_at")),
            ("worker", job.get("assigned_worker_id")),
            ("lease until", job.get("lease_expires_at")),
            ("last error", job.get("last_error")),
            ("payload", _compact(job.get("payload"))),
            ("result", _compact(job.get("result"))),
        ]
    )


def _compact(doc: Any) -> str | None:
    import json

    return None if doc is None else json.dumps(doc, separators=(",", ":"))[:500]


@group.command("get")
@click.argument("job_id")
@click.option("--history", is_flag=True, help="Also print the job's lifecycle events")
def get(job_id: str, history: bool) -> None:
    """Show one job (and, with --history, its events)."""
    c = client()
    job = c.get(f"/jobs/{job_id}")
    events = c.get(f"/jobs/{job_id}/history", limit=500) if history else None
    if events is not None:
        job = {**job, "history": events}

    def render(j: dict[str, Any]) -> None:
        show_job(j)
        if events:
            output.table(
                events,
                [
                    ("time", lambda e: e["created_at"]),
                    ("event", lambda e: e["event_type"]),
                    ("worker", lambda e: e.get("worker_id")),
                    (
                        "details",
                        lambda e: _compact(
                            {
                                k: v
                                for k, v in (e.get("details") or {}).items()
                                if k != "organization_id"
                            }
                        ),
                    ),
                ],
                title="history",
            )

    emit(job, render)


JOB_COLUMNS: list[output.Column] = [
    ("id", lambda j: j["id"]),
    ("queue", lambda j: j["queue_name"]),
    ("status", lambda j: output.status(j["status"])),
    ("prio", lambda j: j["priority"]),
    ("tries", lambda j: f"{j['retry_count']}/{j['max_retries']}"),
    ("created", lambda j: output.ago(j["created_at"])),
    ("last error", lambda j: (j.get("last_error") or "")[:60]),
]


@group.command("list")
@click.option(
    "-s", "--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Repeatable"
)
@click.option("-q", "--queue")
@click.option("--tag", help="Jobs whose tags have this key")
@click.option("--search", help="Substring of id, queue or idempotency key")
@click.option("--since", help="Created after (RFC 3339 or 30m, 6h, 7d ago)")
@click.option("--until", help="Created before (RFC 3339 or a duration ago)")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(1, 100))
@click.option("--offset", default=0, type=click.IntRange(0))
def list_jobs(
    statuses: tuple[str, ...],
    queue: str | None,
    tag: str | None,
    search: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    offset: int,
) -> None:
    """List jobs, newest first."""
    rows, more = client().page(
        "/jobs",
        status=",".join(statuses) or None,
        queue_name=queue,
        tag=tag,
        q=search,
        created_after=when(since),
        created_before=when(until),
        limit=limit,
        offset=offset,
    )

    def render(data: list[dict[str, Any]]) -> None:
        output.table(data, JOB_COLUMNS, empty="No job matches.")
        if more:
            output.console.print(f"[dim]more: --offset {offset + limit}[/dim]")

    emit(rows, render)


def _each(ids: tuple[str, ...], verb: str, act: Any) -> None:
    """Run ``act(id)`` for each id with a progress bar; report failures per id."""
    if len(ids) == 1:
        act(ids[0])  # one job: its error (and hint) is the answer
        emit({"ok": list(ids), "failed": []}, lambda r: output.console.print(f"{verb}: {ids[0]}"))
        return
    done: list[str] = []
    failed: list[dict[str, str]] = []
    with output.progress(verb, len(ids)) as bar:
        for job_id in ids:
            try:
                act(job_id)
                done.append(job_id)
            except ApiError as err:
                failed.append({"id": job_id, "error": err.message})
            bar.advance(bar.task_ids[0])
    result = {"ok": done, "failed": failed}

    def render(r: dict[str, Any]) -> None:
        output.console.print(f"{verb}: {len(done)} ok, {len(failed)} failed")
        for f in failed:
            output.console.print(f"  [red]{f['id']}[/red]: {f['error']}")

    emit(result, render)
    if failed:
        raise CliError(
            f"{len(failed)} of {len(ids)} failed", "See why with `spooledctl jobs diagnose <id>`."
        )


@group.command("cancel")
@click.argument("job_ids", nargs=-1, required=True)
def cancel(job_ids: tuple[str, ...]) -> None:
    """Cancel pending or scheduled jobs."""
    c = client()
    _each(job_ids, "cancel", lambda i: c.delete(f"/jobs/{i}"))


@group.command("retry")
@click.argument("job_ids", nargs=-1, required=True)
def retry(job_ids: tuple[str, ...]) -> None:
    """Run failed or dead-lettered jobs again (retry count reset)."""
    c = client()
    _each(job_ids, "retry", lambda i: c.post(f"/jobs/{i}/retry"))


@group.command("diagnose")
@click.argument("job_id")
def diagnose(job_id: str) -> None:
    """Why isn't this job running? The exact blocker, or its place in line."""
    d = client().get(f"/jobs/{job_id}/diagnose")

    def render(data: dict[str, Any]) -> None:
        first, *rest = data["blockers"]
        style = "green" if data["runnable"] else "yellow"
        output.console.print(
            f"[bold]{data['job_id']}[/bold]  queue {data['queue_name']}  status ",
            output.status(data["status"]),
        )
        output.console.print(f"[bold {style}]{first['code']}[/bold {style}]  {first['message']}")
        details = {k: v for k, v in first["details"].items() if v is not None}
        if details:
            output.fields(
                [(k, _compact(v) if isinstance(v, dict | list) else v) for k, v in details.items()]
            )
        for b in rest:
            output.console.print(f"[yellow]also {b['code']}[/yellow]  {b['message']}")

    emit(d, render)
