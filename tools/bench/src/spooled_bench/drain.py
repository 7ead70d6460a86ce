"""Running the worker process, and what is measured around it (memory, database counts)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from spooled_bench.progress import Progress
from spooled_bench.target import Target
from spooled_bench.worker import Args


async def run_worker(args: Args, target: Target, bar: Progress | None = None) -> dict[str, Any]:
    """Start ``python -m spooled_bench.worker`` and wait for its JSON line.

    While it runs, the queue's completed count is read from the database
    every half second for the progress line.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "spooled_bench.worker",
        orjson.dumps(asdict(args)).decode(),
        stdout=asyncio.subprocess.PIPE,
    )
    watcher = asyncio.create_task(_watch(target, args.queue, bar)) if bar else None
    try:
        out, _ = await proc.communicate()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker exited with {proc.returncode}")
    doc: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return doc


async def _watch(target: Target, queue: str, bar: Progress) -> None:
    if not target.database_url:
        return
    async with target.db() as conn:
        while True:
            await asyncio.sleep(0.5)
            n = await conn.fetchval(
                "SELECT count(*) FROM core.jobs WHERE organization_id = $1 AND queue_name = $2"
                " AND status = 'completed'",
                target.org_id,
                queue,
            )
            bar.add(int(n) - bar.done)


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process now, in MiB (Linux /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextlib.asynccontextmanager
async def peak_rss(pids: dict[str, int]) -> AsyncIterator[dict[str, float]]:
    """Sample each service's RSS every 100 ms for the block; yields {name: peak MiB}."""
    peaks: dict[str, float] = {}

    async def sample() -> None:
        while True:
            for name, pid in pids.items():
                mb = rss_mb(pid)
                if mb is not None and mb > peaks.get(name, 0.0):
                    peaks[name] = mb
            await asyncio.sleep(0.1)

    task = asyncio.create_task(sample())
    try:
        yield peaks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for name in peaks:
            peaks[name] = round(peaks[name], 1)
