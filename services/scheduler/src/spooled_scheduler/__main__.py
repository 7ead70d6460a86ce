"""`spooled-scheduler serve | migrate`."""

from __future__ import annotations

from typing import Any

from spooled_common.cli import ServiceCommand

from spooled_scheduler import db
from spooled_scheduler.settings import SchedulerSettings


def _app(settings: SchedulerSettings) -> Any:
    from spooled_scheduler.app import SchedulerApp

    return SchedulerApp(settings)


COMMAND = ServiceCommand(
    name="scheduler",
    settings=SchedulerSettings,
    app=_app,
    serve_help="serve internal gRPC, fire schedules, and the probes",
    migrations=(db.SCHEMA, db.MIGRATIONS),
)
main = COMMAND.main

if __name__ == "__main__":
    main()
