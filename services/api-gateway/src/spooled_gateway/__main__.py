"""`spooled-gateway serve | migrate`."""

from __future__ import annotations

import argparse
import asyncio

from spooled_common import logging as slog
from spooled_common import tracing
from spooled_common.migrate import migrate

from spooled_gateway.settings import GatewaySettings

SCHEMA = "gateway"
MIGRATIONS = "spooled_gateway.db.migrations"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spooled-gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve REST on PORT and public gRPC on GRPC_PORT")
    sub.add_parser("migrate", help="apply the gateway schema migrations and exit")
    args = parser.parse_args(argv)

    settings = GatewaySettings()
    slog.configure("gateway", settings.log_level, settings.json_logs)
    settings.check()
    if args.command == "migrate":
        applied = asyncio.run(migrate(settings.database_url, SCHEMA, MIGRATIONS))
        print(f"gateway: {len(applied)} migration(s) applied")
        return

    import uvicorn

    from spooled_gateway.app import create_app

    # Before the app is built: its telemetry setting depends on whether tracing is on.
    tracing.configure("spooled-api-gateway", "spooled-gateway")
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
