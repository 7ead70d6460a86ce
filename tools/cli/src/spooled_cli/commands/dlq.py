"""``spooledctl dlq``: list, retry and purge dead-lettered jobs, with progress bars."""

from __future__ import annotations

from typing import Any

import click

from spooled_cli import output
from spooled_cli.client import CliError
from spooled_cli.commands.common import client, emit, when

#: Server caps per call: retry takes up to 100 jobs, purge up to 10 000 (we go by 1 000).
RETRY_BATCH = 100
PURGE_BATCH = 1000


@click.group("dlq")
def group() -> None:
    """The dead-letter queue: jobs that ran out of retries."""


@group.command("list")
@click.option("-q", "--queue")
@click.option("--tag")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(1, 100))
@click.option("--offset", default=0, type=click.IntRange(0))
def list_dead(queue: str | None, tag: str | None, limit: int, offset: int) -> None:
    """Dead-lettered jobs, newest first."""
    rows, more = client().page("/jobs/dlq", queue_name=queue, tag=tag, limit=limit, offset=offset)

    def render(data: list[dict[str, Any]]) -> None:
        output.table(
            data,
            [
                ("id", lambda j: j["id"]),
                ("queue", lambda j: j["queue_name"]),
                ("retries", lambda j: f"{j['retry_count']}/{j['max_retries']}"),
                ("dead since", lambda j: output.ago(j.get("completed_at"))),
                ("error", lambda j: (j.get("last_error") or "")[:70]),
            ],
            empty="The dead-letter queue is empty.",
        )
        if more:
            output.console.print(f"[dim]more: --offset {offset + limit}[/dim]")

    emit(rows, render)


def _dead_count(queue: str | None) -> int:
    return int(client().get("/jobs/stats", queue_name=queue)["deadletter"])


@group.command("retry")
@click.argument("job_ids", nargs=-1)
@click.option("-q", "--queue", help="Retry this queue's dead letters")
@click.option("--all", "everything", is_flag=True, help="Retry every dead letter (all queues)")
@click.option("-n", "--limit", type=click.IntRange(1), help="At most this many (oldest first)")
def retry(job_ids: tuple[str, ...], queue: str | None, everything: bool, limit: int | None) -> None:
    """Send dead letters back to their queues: by id, by --queue, or --all."""
    if not job_ids and not queue and not everything:
        raise CliError("Say which dead letters to retry.", "Give job ids, --queue NAME or --all.")
    c = client()
    retried: list[str] = []
    skipped: list[str] = []
    if job_ids:
        with output.progress("retry", len(job_ids)) as bar:
            for i in range(0, len(job_ids), RETRY_BATCH):
                chunk = list(job_ids[i : i + RETRY_BATCH])
                r = c.post("/jobs/dlq/retry", {"job_ids": chunk, "limit": len(chunk)})
                retried += r["retried_jobs"]
                skipped += r.get("skipped_jobs") or []
                bar.advance(bar.task_ids[0], len(chunk))
    else:
        total = _dead_count(queue)
        if limit is not None:
            total = min(total, limit)
        with output.progress("retry", total) as bar:
            while len(retried) < total:
                batch = min(RETRY_BATCH, total - len(retried))
                body: dict[str, Any] = {"limit": batch}
                if queue:
                    body["queue_name"] = queue
                r = c.post("/jobs/dlq/retry", body)
                if not r["retried_count"]:
                    break
                retried += r["retried_jobs"]
                bar.advance(bar.task_ids[0], r["retried_count"])
    missing = [j for j in job_ids if j not in retried and j not in skipped]
    result = {
        "retried_count": len(retried),
        "retried_jobs": retried,
        "skipped_jobs": skipped + missing,
    }
    emit(
        result,
        lambda r: output.console.print(
            f"retried {r['retried_count']} job(s)"
            + (
                f", {len(r['skipped_jobs'])} not dead-lettered (skipped)"
                if r["skipped_jobs"]
                else ""
            )
        ),
    )


@group.command("purge")
@click.option("-q", "--queue", help="Only this queue")
@click.option("--older-than", help="Created before: RFC 3339 or a duration ago (7d, 12h)")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation")
def purge(queue: str | None, older_than: str | None, yes: bool) -> None:
    """Delete dead letters for good."""
    before = when(older_than)
    total = _dead_count(queue)
    scope = f"queue {queue}" if queue else "every queue"
    if not yes and not click.confirm(
        f"Delete up to {total} dead letter(s) of {scope}"
        + (f" created before {before}" if before else "")
        + " for good?",
        err=True,
    ):
        raise CliError("Nothing purged.", "Pass --yes to skip the question.")
    c = client()
    purged = 0
    with output.progress("purge", max(total, 1)) as bar:
        while True:
            body: dict[str, Any] = {"confirm": True, "limit": PURGE_BATCH}
            if queue:
                body["queue_name"] = queue
            if before:
                body["older_than"] = before
            n = int(c.post("/jobs/dlq/purge", body)["purged_count"])
            purged += n
            bar.update(bar.task_ids[0], completed=min(purged, total), total=max(total, purged, 1))
            if n < PURGE_BATCH:
                break
    emit(
        {"purged_count": purged},
        lambda r: output.console.print(f"purged {r['purged_count']} job(s)"),
    )
