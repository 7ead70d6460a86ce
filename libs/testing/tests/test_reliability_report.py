"""The reliability table is rendered from recorded rows, newest row per fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from spooled_testing import reliability


def test_rows_render_into_the_doc_between_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOOLED_RELIABILITY_DIR", str(tmp_path))
    reliability.record("process faults", "kill -9 queue-core", "no job lost", "old", sent=1)
    reliability.record(
        "process faults", "kill -9 queue-core", "no job lost", "all done", sent=10, lost=0, p99_ms=4
    )
    reliability.record("hostile input", "a | pipe", "4xx", "400", requests=3)
    rows = reliability.load(tmp_path / "results.jsonl")
    assert [r["observed"] for r in rows] == ["400", "all done"]

    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Title\n\n{reliability.BEGIN}\nstale\n{reliability.END}\n\nafter\n")
    reliability.write_doc(rows, doc)
    text = doc.read_text()
    assert "stale" not in text and text.startswith("# Title") and text.endswith("after\n")
    assert "| Area | Fault or attack | Checked | Observed | sent | lost | requests |" in text
    assert (
        "| process faults | kill -9 queue-core | no job lost | all done (p99_ms=4) | 10 | 0 |  |"
        in text
    )
    assert "a \\| pipe" in text


def test_a_doc_without_markers_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        reliability.write_doc([], doc)
