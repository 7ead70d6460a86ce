"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from spooled_cli import output
from spooled_cli.client import Client, CliError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def ctx_obj() -> Any:
    return click.get_current_context().find_root().obj


def client() -> Client:
    return ctx_obj().client  # type: ignore[no-any-return]


def wants_json() -> bool:
    return bool(ctx_obj().json)


def emit(data: Any, render: Any) -> None:
    """JSON with --json, else the readable rendering."""
    if wants_json():
        output.dump_json(data)
    else:
        render(data)


def json_arg(value: str, what: str) -> Any:
    """A JSON document given inline, as @file, or as - (stdin)."""
    text = value
    if value == "-":
        text = click.get_text_stream("stdin").read()  # type: ignore[operator]
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as exc:
            raise CliError(f"Cannot read {what} file {value[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{what} is not valid JSON: {exc.msg} at position {exc.pos}",
            f'Quote it for the shell, e.g. --{what} \'{{"to": "a@example.com"}}\', or pass @file.json.',
        ) from None


def when(value: str | None) -> str | None:
    """An RFC 3339 time, or a duration ago ("15m", "2h", "7d") made into one."""
    if not value:
        return None
    m = _DURATION.match(value.strip())
    if m:
        delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise CliError(
            f"Cannot read the time {value!r}",
            "Use RFC 3339 (2026-01-31T12:00:00Z) or a duration ago such as 30m, 6h, 7d.",
        ) from None


def future(value: str | None) -> str | None:
    """An RFC 3339 time, or a duration from now ("+10m", "10m")."""
    if not value:
        return None
    m = _DURATION.match(value.strip().lstrip("+"))
    if m:
        delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (datetime.now(UTC) + delta).isoformat()
    return when(value)


def kv_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise CliError(
                f"Bad {what} {item!r}", f"Write it as key=value, e.g. --{what} team=billing"
            )
        out[key] = val
    return out
