"""Progress on stderr while a workload runs (one line, redrawn), so a long run is never silent."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def add(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        # Redraw at most 5 times a second (twice a second when not a terminal).
        if now - self._last >= (0.2 if self._tty else 2.0) or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._t0, 1e-9)
        pct = 100 * self.done / self.total
        line = f"  {self.label}: {self.done}/{self.total} ({pct:.0f}%, {rate:,.0f}/s)"
        if self._tty:
            sys.stderr.write("\r" + line.ljust(78))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self._tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
