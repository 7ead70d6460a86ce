"""`spooled-realtime serve`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from spooled_common import logging as slog

from spooled_realtime.settings import RealtimeSettings

log = logging.getLogger("spooled_realtime")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spooled-realtime")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve SSE and WebSocket streams plus /health, /ready, /metrics")
    parser.parse_args(argv)

    settings = RealtimeSettings()
    slog.configure("realtime", settings.log_level, settings.json_logs)
    settings.check()

    import uvloop

    uvloop.run(serve(settings))


async def serve(settings: RealtimeSettings) -> None:
    """Run until SIGTERM/SIGINT, then end every stream and drain."""
    from spooled_realtime.app import RealtimeServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = RealtimeServer(settings)
    await server.start()
    try:
        await stop.wait()
        log.info("signal received; closing streams")
    finally:
        await server.stop()


if __name__ == "__main__":
    main()
