"""The consumer across a NATS outage, at service level (tests/e2e has the 500-job version).

A NATS server of this module's own (the session one is shared) is stopped while jobs
complete; queue-core's relay keeps the events in the outbox, and after the restart the
durable consumer resumes: every completion arrives, under one delivery id per job.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from spooled_common.migrate import migrate
from spooled_proto.spooled.internal.v1 import webhooks_pb2 as pb
from spooled_queue_core.app import QueueCoreApp
from spooled_queue_core.testing import make_settings as core_settings
from spooled_testing.nats import NatsServer
from spooled_testing.postgres import PostgresServer
from spooled_testing.receiver import WebhookReceiver, spooled_signature_ok
from spooled_webhooks import db
from spooled_webhooks.app import WebhooksApp
from wh_helpers import INTERNAL_TOKEN, Rpc, run_job, until_received, wh_settings

JOBS = 40

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def world(pg_server: PostgresServer) -> AsyncIterator[tuple[NatsServer, QueueCoreApp, str]]:
    nats_dir = Path(tempfile.mkdtemp(prefix="spooled-wh-nats-"))
    server = NatsServer(nats_dir).start()
    dsn = pg_server.create_database(f"who_{uuid.uuid4().hex[:8]}")
    await migrate(dsn, "core", "spooled_queue_core.db.migrations")
    await migrate(dsn, db.SCHEMA, db.MIGRATIONS)
    env = {
        "NATS_URL": server.url,
        "OUTBOX_POLL_INTERVAL_SECS": "0.05",
        "OUTBOX_RETRY_MIN_SECS": "0.05",
        "OUTBOX_RETRY_MAX_SECS": "0.5",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        core = QueueCoreApp(core_settings(dsn, SPOOLED_INTERNAL_TOKEN=INTERNAL_TOKEN))
        await core.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield server, core, dsn
    finally:
        await core.stop()
        server.stop()


async def test_completions_survive_a_nats_outage(
    world: tuple[NatsServer, QueueCoreApp, str], receiver: WebhookReceiver
) -> None:
    server, core, dsn = world
    app = WebhooksApp(wh_settings(dsn, server.url, QUEUE_CORE_ADDR=f"127.0.0.1:{core.grpc_port}"))
    await app.start()
    api = Rpc(app.grpc_port)
    try:
        assert app.consumer is not None
        await asyncio.wait_for(app.consumer.subscribed.wait(), 15)
        org = f"org-{uuid.uuid4()}"
        await api.call(
            org,
            "CreateWebhook",
            pb.CreateWebhookRequest(
                name="h", url=receiver.url(), events=["job.completed"], secret="s", enabled=True
            ),
        )
        server.stop()
        jobs = [await run_job(core, org) for _ in range(JOBS)]
        await asyncio.sleep(3)
        assert receiver.received() == []
        server.start()
        got = await until_received(receiver, JOBS, timeout=45)
        ids: dict[str, set[str]] = defaultdict(set)
        for r in got:
            assert spooled_signature_ok("s", r)
            ids[r.json()["data"]["job_id"]].add(r.headers["webhook-id"])
        assert set(ids) == set(jobs)
        assert all(len(v) == 1 for v in ids.values())
    finally:
        await api.close()
        await app.stop()
