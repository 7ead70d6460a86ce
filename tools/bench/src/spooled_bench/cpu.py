"""CPU time each process spends on a workload, from /proc (Linux).

On a shared 2-core machine wall-clock numbers move with whatever else runs;
CPU milliseconds per job do not, so the bench reports both: the first is
what a user sees, the second where the work goes.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own user+system seconds, reaped children's) of one process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # After "pid (comm) ": state ppid ... utime stime cutime cstime (12th-15th from state).
    own = (int(fields[11]) + int(fields[12])) / _TICK
    reaped = (int(fields[13]) + int(fields[14])) / _TICK
    return int(fields[1]), own, reaped


def process_seconds(pid: int, *, with_children: bool = False) -> float:
    """CPU seconds of ``pid`` and, for Postgres, of every backend it forked.

    A backend that exits (pools replace connections) hands its time to the
    postmaster's reaped-children counters, so it is never lost from the sum.
    """
    own = _stat(pid)
    if own is None:
        return 0.0
    total = own[1] + (own[2] if with_children else 0.0)
    if with_children:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                st = _stat(int(entry.name))
                if st is not None and st[0] == pid:
                    total += st[1]
    return total


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {
        name: process_seconds(pid, with_children=name == "postgres") for name, pid in pids.items()
    }


def per_job_ms(before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
    return {
        name: round(max(after[name] - before[name], 0.0) * 1000 / max(jobs, 1), 3)
        for name in before
        if name in after
    }
