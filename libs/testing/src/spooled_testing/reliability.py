"""What the reliability and security tests observed, for docs/reliability.md.

A fault or attack test calls :func:`record` once it has checked its outcome; the
row lands as one JSON line in ``$SPOOLED_RELIABILITY_DIR/results.jsonl``
(``test-output/reliability`` by default). ``python -m spooled_testing.reliability``
renders the rows into the table in ``docs/reliability.md``, so the document
holds what a run measured, not what someone typed.

Call it after the assertions: a row exists only for a check that passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_DIR = ROOT / "test-output" / "reliability"
DOC = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

#: Count names shown as columns, in this order; others go to the "observed" text.
COUNT_COLUMNS = ("sent", "acknowledged", "completed", "lost", "duplicates", "requests", "5xx")


def results_path() -> Path:
    base = Path(os.environ.get("SPOOLED_RELIABILITY_DIR") or DEFAULT_DIR)
    base.mkdir(parents=True, exist_ok=True)
    return base / "results.jsonl"


def record(area: str, fault: str, checked: str, observed: str, **counts: int | float) -> None:
    """Append one observed outcome.

    area: a group such as "process faults", "dependency faults", "hostile input";
    fault: what was done ("kill -9 queue-core during load");
    checked: what was asserted ("no acknowledged job lost, none completed twice");
    observed: the result in words ("all 1,200 jobs completed once");
    counts: numbers behind it (sent=, acknowledged=, completed=, lost=, ...).
    """
    row: dict[str, Any] = {
        "area": area,
        "fault": fault,
        "checked": checked,
        "observed": observed,
        "counts": counts,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
    }
    with results_path().open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, sort_keys=True) + "\n")


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of a results file; the newest row wins for the same (area, fault)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            latest[(row["area"], row["fault"])] = row
    return sorted(latest.values(), key=lambda r: (r["area"], r["fault"]))


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown table for ``rows``."""
    used = [c for c in COUNT_COLUMNS if any(c in r["counts"] for r in rows)]
    head = ["Area", "Fault or attack", "Checked", "Observed", *used]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        counts = r["counts"]
        extra = {k: v for k, v in counts.items() if k not in COUNT_COLUMNS}
        observed = r["observed"] + (
            " (" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + ")" if extra else ""
        )
        cells = [r["area"], r["fault"], r["checked"], observed]
        cells += [counts.get(c, "") for c in used]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_doc(rows: list[dict[str, Any]], doc: Path = DOC) -> None:
    """Replace the table between the markers in ``doc`` (the prose around it stays)."""
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} lacks the {BEGIN} / {END} markers around the results table")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    doc.write_text(f"{before}{BEGIN}\n{render(rows)}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help="a results.jsonl file")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    path = args.results or results_path()
    if not path.exists():
        print(f"no results at {path}: run `make test` and `make chaos` first", file=sys.stderr)
        return 2
    rows = load(path)
    write_doc(rows, args.doc)
    print(f"wrote {len(rows)} rows to {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
