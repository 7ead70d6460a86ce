"""The `<service> serve | migrate` entry point every internal service shares.

A service supplies its settings class, an app object with ``start()``/``stop()``
and, if it owns a schema, its migrations package. SIGTERM/SIGINT trigger a
graceful stop, which is what Kubernetes sends before killing a pod. ``serve``
sets up tracing first (:mod:`spooled_common.tracing`, when configured) and
flushes it last.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from spooled_common import logging as slog
from spooled_common import tracing
from spooled_common.migrate import migrate
from spooled_common.settings import ServiceSettings

log = logging.getLogger(__name__)


class Service(Protocol):
    async def start(self) -> Any: ...

    async def stop(self) -> Any: ...


@dataclass(frozen=True)
class ServiceCommand:
    #: Short name used in logs and messages ("queue-core").
    name: str
    settings: Callable[[], ServiceSettings]
    #: Builds the app from its settings; imported lazily so `migrate` stays light.
    app: Callable[[Any], Service]
    serve_help: str
    #: (schema, migrations package) when the service owns a schema.
    migrations: tuple[str, str] | None = None

    def main(self, argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"spooled-{self.name}")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("serve", help=self.serve_help)
        if self.migrations:
            sub.add_parser(
                "migrate", help=f"apply the {self.migrations[0]} schema migrations and exit"
            )
        args = parser.parse_args(argv)

        settings = self.settings()
        slog.configure(self.name, settings.log_level, settings.json_logs)
        settings.check()
        if args.command == "migrate" and self.migrations:
            schema, package = self.migrations
            applied = asyncio.run(migrate(settings.database_url, schema, package))
            print(f"{self.name}: {len(applied)} migration(s) applied")
            return

        import uvloop

        tracing.configure(f"spooled-{self.name}", f"spooled-{self.name}")
        try:
            uvloop.run(self.serve(settings))
        finally:
            tracing.shutdown()

    async def serve(self, settings: Any) -> None:
        """Run until SIGTERM/SIGINT, then stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        app = self.app(settings)
        try:
            await app.start()
            await stop.wait()
            log.info("%s: signal received; draining", self.name)
        finally:
            await app.stop()
