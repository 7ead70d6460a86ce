"""`spooled-queue-core serve | migrate`."""

from __future__ import annotations

from typing import Any

from spooled_common.cli import ServiceCommand

from spooled_queue_core import db
from spooled_queue_core.settings import QueueCoreSettings


def _app(settings: QueueCoreSettings) -> Any:
    from spooled_queue_core.app import QueueCoreApp

    return QueueCoreApp(settings)


COMMAND = ServiceCommand(
    name="queue-core",
    settings=QueueCoreSettings,
    app=_app,
    serve_help="serve internal gRPC and the /health, /ready, /metrics probes",
    migrations=(db.SCHEMA, db.MIGRATIONS),
)
main = COMMAND.main

if __name__ == "__main__":
    main()
