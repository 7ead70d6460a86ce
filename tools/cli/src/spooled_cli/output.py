"""How spooledctl prints: readable rich tables, or JSON with ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

#: Piped output is not squeezed to 80 columns: ids stay on one line for grep/awk.
_PIPE_WIDTH = 220
console = Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err_console = Console(
    stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH
)

STATUS_STYLES = {
    "completed": "green",
    "processing": "blue",
    "pending": "yellow",
    "scheduled": "yellow",
    "failed": "red",
    "deadletter": "red",
    "cancelled": "dim",
    "healthy": "green",
    "offline": "red",
    "active": "green",
    "paused": "yellow",
}


def dump_json(data: Any) -> None:
    """Machine output: one JSON document on stdout (no colors, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))


def status(value: str | None) -> Text:
    return Text(value or "—", style=STATUS_STYLES.get(value or "", ""))


def ago(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    secs = int((datetime.now(UTC) - then).total_seconds())
    text = span(abs(secs))
    return f"{text} ago" if secs >= 0 else f"in {text}"


def span(secs: int) -> str:
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h{secs % 3600 // 60:02d}m"
    return f"{secs // 86400}d{secs % 86400 // 3600:02d}h"


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    empty: str = "Nothing to show.",
) -> None:
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    t = Table(
        title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False
    )
    for name, _ in columns:
        # ids never wrap: a broken uuid cannot be copied back into a command.
        t.add_column(name, overflow="fold", no_wrap=name in ("id", "job"))
    for row in rows:
        t.add_row(*[_cell(fn(row)) for _, fn in columns])
    console.print(t)


def _cell(value: Any) -> Any:
    if value is None:
        return "—"
    if isinstance(value, Text):
        return value
    return str(value)


def fields(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    t = Table(title=title, title_justify="left", show_header=False, show_edge=False, box=None)
    t.add_column(style="dim")
    t.add_column(overflow="fold")
    for key, value in pairs:
        t.add_row(key, _cell(value))
    console.print(t)


def progress(description: str, total: int) -> Progress:
    """A progress bar for bulk operations (on stderr, so --json stdout stays clean)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    bar.add_task(description, total=total)
    return bar
