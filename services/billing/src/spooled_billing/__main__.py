"""`spooled-billing serve | migrate`."""

from __future__ import annotations

from typing import Any

from spooled_common.cli import ServiceCommand

from spooled_billing import db
from spooled_billing.settings import BillingSettings


def _app(settings: BillingSettings) -> Any:
    from spooled_billing.app import BillingApp

    return BillingApp(settings)


COMMAND = ServiceCommand(
    name="billing",
    settings=BillingSettings,
    app=_app,
    serve_help="serve internal gRPC (limits, usage counters, Stripe events) and the probes",
    migrations=(db.SCHEMA, db.MIGRATIONS),
)
main = COMMAND.main

if __name__ == "__main__":
    main()
