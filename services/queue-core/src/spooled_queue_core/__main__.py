"""`spooled-queue-core serve | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from spooled_common import logging as slog
from spooled_common.migrate import migrate

from spooled_queue_core import db
from spooled_queue_core.settings import QueueCoreSettings

log = logging.getLogger("spooled_queue_core")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spooled-queue-core")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve internal gRPC and the /health, /ready, /metrics probes")
    sub.add_parser("migrate", help="apply the core schema migrations and exit")
    args = parser.parse_args(argv)

    settings = QueueCoreSettings()
    slog.configure("queue-core", settings.log_level, settings.json_logs)
    settings.check()
    if args.command == "migrate":
        applied = asyncio.run(migrate(settings.database_url, db.SCHEMA, db.MIGRATIONS))
        print(f"queue-core: {len(applied)} migration(s) applied")
        return

    import uvloop

    uvloop.run(serve(settings))


async def serve(settings: QueueCoreSettings) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    from spooled_queue_core.app import QueueCoreApp

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = QueueCoreApp(settings)
    try:
        await app.start()
        await stop.wait()
        log.info("signal received; draining")
    finally:
        await app.stop()


if __name__ == "__main__":
    main()
