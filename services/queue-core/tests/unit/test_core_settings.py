from __future__ import annotations

import pytest
from spooled_queue_core.settings import QueueCoreSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "QUEUE_CORE_GRPC_PORT",
        "QUEUE_CORE_HTTP_PORT",
        "QUEUE_DEFAULT_MAX_RETRIES",
        "WORKER_LEASE_DURATION_SECS",
    ):
        monkeypatch.delenv(name, raising=False)
    s = QueueCoreSettings()
    assert (s.grpc_port, s.http_port) == (50061, 8081)
    assert (s.default_max_retries, s.default_timeout_secs) == (3, 300)
    assert (s.lease_duration_secs, s.heartbeat_interval_secs) == (30, 10)
    s.check()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_CORE_GRPC_PORT", "6000")
    monkeypatch.setenv("QUEUE_DEFAULT_MAX_RETRIES", "9")
    s = QueueCoreSettings()
    assert s.grpc_port == 6000 and s.default_max_retries == 9


def test_lease_must_outlast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_LEASE_DURATION_SECS", "10")
    monkeypatch.setenv("WORKER_HEARTBEAT_INTERVAL_SECS", "10")
    with pytest.raises(SystemExit):
        QueueCoreSettings().check()
