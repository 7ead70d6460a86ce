"""Helpers for tests that run billing in-process (shipped with the package)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from spooled_common.migrate import migrate

from spooled_billing import db
from spooled_billing.app import BillingApp
from spooled_billing.settings import BillingSettings
from spooled_billing.stripe import signature

#: The Stripe endpoint secret test instances use.
TEST_STRIPE_SECRET = "whsec_test_0123456789abcdef"


def make_settings(dsn: str, **env: Any) -> BillingSettings:
    """Settings for a test instance: loopback, ephemeral ports, ``env`` on top."""
    values: dict[str, Any] = {
        "DATABASE_URL": dsn,
        "BILLING_GRPC_PORT": 0,
        "BILLING_HTTP_PORT": 0,
        "BILLING_GRPC_HOST": "127.0.0.1",
        "BILLING_HTTP_HOST": "127.0.0.1",
        "STRIPE_BILLING_WEBHOOK_SECRET": TEST_STRIPE_SECRET,
        "DATABASE_MAX_CONNECTIONS": 20,
    }
    values.update(env)
    return BillingSettings(**values)


@contextlib.asynccontextmanager
async def running_billing(dsn: str, **env: Any) -> AsyncIterator[BillingApp]:
    """A migrated, started billing service on loopback; stopped afterwards."""
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    app = BillingApp(make_settings(dsn, **env))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def stripe_header(payload: bytes, secret: str = TEST_STRIPE_SECRET, **kw: Any) -> str:
    """A valid ``Stripe-Signature`` header for ``payload``."""
    return signature.sign(payload, secret, **kw)
