"""Scheduler settings, read from the environment (names in the field aliases)."""

from __future__ import annotations

import os
import socket
import uuid

from pydantic import Field
from spooled_common.settings import ServiceSettings

#: Defaults, named so code and docs (docs/scheduler.md) agree.
DEFAULT_GRPC_PORT = 50062
DEFAULT_HTTP_PORT = 8082
DEFAULT_QUEUE_CORE_ADDR = "127.0.0.1:50061"
DEFAULT_LEASE_TTL_SECS = 15.0
DEFAULT_POLL_INTERVAL_SECS = 1.0
DEFAULT_MISFIRE_GRACE_SECS = 60.0
DEFAULT_BATCH_SIZE = 100
DEFAULT_ENQUEUE_TIMEOUT_SECS = 5.0


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class SchedulerSettings(ServiceSettings):
    grpc_host: str = Field(default="0.0.0.0", alias="SCHEDULER_GRPC_HOST")
    grpc_port: int = Field(default=DEFAULT_GRPC_PORT, alias="SCHEDULER_GRPC_PORT")
    #: /health, /ready and /metrics.
    http_host: str = Field(default="0.0.0.0", alias="SCHEDULER_HTTP_HOST")
    http_port: int = Field(default=DEFAULT_HTTP_PORT, alias="SCHEDULER_HTTP_PORT")
    #: Where queue-core's internal gRPC listens (jobs are enqueued there).
    queue_core_addr: str = Field(default=DEFAULT_QUEUE_CORE_ADDR, alias="QUEUE_CORE_ADDR")

    #: This replica's name in the leader lease (unique per process by default).
    instance_id: str = Field(default_factory=_instance_id, alias="SCHEDULER_INSTANCE_ID")
    #: A leader that stops renewing loses the lease this long after its last renewal.
    lease_ttl_secs: float = Field(default=DEFAULT_LEASE_TTL_SECS, alias="SCHEDULER_LEASE_TTL_SECS")
    #: Longest wait between rounds (each round renews the lease).
    poll_interval_secs: float = Field(
        default=DEFAULT_POLL_INTERVAL_SECS, alias="SCHEDULER_POLL_INTERVAL_SECS"
    )
    #: Ticks late by at most this much always fire; older ones follow missed_run_policy.
    misfire_grace_secs: float = Field(
        default=DEFAULT_MISFIRE_GRACE_SECS, alias="SCHEDULER_MISFIRE_GRACE_SECS"
    )
    #: Due schedules handled per pass.
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, alias="SCHEDULER_BATCH_SIZE")
    #: Deadline of each queue-core call made while firing.
    enqueue_timeout_secs: float = Field(
        default=DEFAULT_ENQUEUE_TIMEOUT_SECS, alias="SCHEDULER_ENQUEUE_TIMEOUT_SECS"
    )
    #: Grace period for in-flight RPCs and the current round on SIGTERM.
    shutdown_grace_secs: float = Field(default=10.0, alias="SCHEDULER_SHUTDOWN_GRACE_SECS")

    def check(self) -> None:
        super().check()
        if self.lease_ttl_secs <= 0 or self.poll_interval_secs <= 0:
            raise SystemExit(
                "SCHEDULER_LEASE_TTL_SECS and SCHEDULER_POLL_INTERVAL_SECS must be positive"
            )
        if self.poll_interval_secs * 3 > self.lease_ttl_secs:
            raise SystemExit(
                "SCHEDULER_POLL_INTERVAL_SECS must be at most a third of "
                "SCHEDULER_LEASE_TTL_SECS (the leader renews every round)"
            )
        if self.misfire_grace_secs < self.lease_ttl_secs + self.poll_interval_secs:
            raise SystemExit(
                "SCHEDULER_MISFIRE_GRACE_SECS must cover a leader handover "
                "(at least SCHEDULER_LEASE_TTL_SECS + SCHEDULER_POLL_INTERVAL_SECS)"
            )
        if self.batch_size < 1:
            raise SystemExit("SCHEDULER_BATCH_SIZE must be at least 1")
