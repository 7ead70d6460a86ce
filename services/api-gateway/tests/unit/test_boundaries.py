"""Architecture rule: the gateway never touches job state directly.

Job state belongs to queue-core (schema ``core``); the gateway reaches it only
through the internal gRPC contract. A regression here would bypass queue-core's
row-level security and its transactional outbox.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "spooled_gateway"
# "core.jobs", "FROM core.outbox", "core.queue_config" … in SQL or Python strings.
CORE_TABLE = re.compile(
    r"\bcore\.(jobs|queue_config|workers|job_history|dead_letter_queue|outbox)\b"
)


def _sources() -> list[Path]:
    files = [*SRC.rglob("*.py"), *SRC.rglob("*.sql")]
    assert files, f"no sources found under {SRC}"
    return files


def test_gateway_sql_never_names_queue_core_tables() -> None:
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in _sources()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if CORE_TABLE.search(line)
    ]
    assert offenders == []


def test_gateway_never_imports_queue_core_code() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+spooled_queue_core\b", p.read_text(), re.MULTILINE)
    ]
    assert offenders == []
