"""`spooled-webhooks serve | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from spooled_common import logging as slog
from spooled_common import tracing
from spooled_common.migrate import migrate

from spooled_webhooks import db
from spooled_webhooks.settings import WebhooksSettings

log = logging.getLogger("spooled_webhooks")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spooled-webhooks")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve internal gRPC, consume events, deliver, and the probes")
    sub.add_parser("migrate", help="apply the webhooks schema migrations and exit")
    args = parser.parse_args(argv)

    settings = WebhooksSettings()
    slog.configure("webhooks", settings.log_level, settings.json_logs)
    settings.check()
    if args.command == "migrate":
        applied = asyncio.run(migrate(settings.database_url, db.SCHEMA, db.MIGRATIONS))
        print(f"webhooks: {len(applied)} migration(s) applied")
        return

    settings.check_serving()
    import uvloop

    tracing.configure("spooled-webhooks", "spooled-webhooks")
    try:
        uvloop.run(serve(settings))
    finally:
        tracing.shutdown()


async def serve(settings: WebhooksSettings) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    from spooled_webhooks.app import WebhooksApp

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = WebhooksApp(settings)
    try:
        await app.start()
        await stop.wait()
        log.info("signal received; draining")
    finally:
        await app.stop()


if __name__ == "__main__":
    main()
