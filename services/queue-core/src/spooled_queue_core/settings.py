"""queue-core settings, read from the environment (names in the field aliases)."""

from __future__ import annotations

from pydantic import Field
from spooled_common import plans
from spooled_common.settings import ServiceSettings

#: Defaults, named so code and docs agree (API.md §14.2).
DEFAULT_GRPC_PORT = 50061
DEFAULT_HTTP_PORT = 8081
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_SECS = 300
DEFAULT_LEASE_SECS = 30
DEFAULT_HEARTBEAT_SECS = 10
#: A worker silent this long is marked offline and its jobs released.
DEFAULT_STALE_WORKER_SECS = 120
#: Where billing's internal gRPC listens (plan limits, the daily job counter).
DEFAULT_BILLING_ADDR = "127.0.0.1:50063"


class QueueCoreSettings(ServiceSettings):
    grpc_host: str = Field(default="0.0.0.0", alias="QUEUE_CORE_GRPC_HOST")
    grpc_port: int = Field(default=DEFAULT_GRPC_PORT, alias="QUEUE_CORE_GRPC_PORT")
    #: /health, /ready and /metrics.
    http_host: str = Field(default="0.0.0.0", alias="QUEUE_CORE_HTTP_HOST")
    http_port: int = Field(default=DEFAULT_HTTP_PORT, alias="QUEUE_CORE_HTTP_PORT")

    default_max_retries: int = Field(default=DEFAULT_MAX_RETRIES, alias="QUEUE_DEFAULT_MAX_RETRIES")
    default_timeout_secs: int = Field(
        default=DEFAULT_TIMEOUT_SECS, alias="QUEUE_DEFAULT_TIMEOUT_SECS"
    )
    #: Lease a claim gets when the caller does not ask for one.
    lease_duration_secs: int = Field(default=DEFAULT_LEASE_SECS, alias="WORKER_LEASE_DURATION_SECS")
    heartbeat_interval_secs: int = Field(
        default=DEFAULT_HEARTBEAT_SECS, alias="WORKER_HEARTBEAT_INTERVAL_SECS"
    )
    stale_worker_secs: int = Field(
        default=DEFAULT_STALE_WORKER_SECS, alias="WORKER_STALE_AFTER_SECS"
    )

    #: How often expired leases and stale workers are swept.
    reaper_interval_secs: float = Field(default=10.0, alias="QUEUE_CORE_REAPER_INTERVAL_SECS")
    #: Rows per reaper statement; the sweep repeats while batches come back full.
    reaper_batch_size: int = Field(default=500, alias="QUEUE_CORE_REAPER_BATCH_SIZE")
    #: How often delayed jobs that came due wake their long-polling claimers.
    due_scan_interval_secs: float = Field(default=1.0, alias="QUEUE_CORE_DUE_SCAN_INTERVAL_SECS")
    #: How often finished jobs past their plan's job_retention_days are deleted.
    retention_interval_secs: float = Field(
        default=3600.0, alias="QUEUE_CORE_RETENTION_INTERVAL_SECS"
    )
    #: Upper bound on a claim's wait_ms.
    max_claim_wait_ms: int = Field(default=30_000, alias="QUEUE_CORE_MAX_CLAIM_WAIT_MS")
    #: A waiting claim re-checks at least this often, in case a wake-up was missed
    #: (e.g. the listener connection was being re-established).
    claim_recheck_secs: float = Field(default=5.0, alias="QUEUE_CORE_CLAIM_RECHECK_SECS")
    #: Grace period for in-flight RPCs on SIGTERM.
    shutdown_grace_secs: float = Field(default=10.0, alias="QUEUE_CORE_SHUTDOWN_GRACE_SECS")

    #: Billing (plan limits and the daily job counter). Empty = nothing is
    #: metered: development and tests of unrelated behaviour only.
    billing_addr: str = Field(default=DEFAULT_BILLING_ADDR, alias="BILLING_ADDR")
    #: How long limits read for worker/queue caps are cached per organization.
    limits_cache_secs: float = Field(default=5.0, alias="QUEUE_CORE_LIMITS_CACHE_SECS")
    #: Pooled connections one organization may hold at once (0 = half the pool),
    #: so a flooding tenant never starves the others (quota/fairness.py).
    max_connections_per_org: int = Field(default=0, alias="QUEUE_CORE_MAX_CONNECTIONS_PER_ORG")

    #: /metrics: queues with their own ``queue`` label value; the rest share
    #: ``_other`` (bounds the series count, see queue_labels.py).
    metrics_max_queues: int = Field(default=50, ge=0, alias="QUEUE_CORE_METRICS_MAX_QUEUES")
    #: /metrics: how long the per-queue database gauges are reused between scrapes.
    metrics_cache_secs: float = Field(default=10.0, ge=0, alias="QUEUE_CORE_METRICS_CACHE_SECS")

    @property
    def connections_per_org(self) -> int:
        if self.max_connections_per_org > 0:
            return min(self.max_connections_per_org, self.database_max_connections)
        return max(1, self.database_max_connections // 2)

    def check(self) -> None:
        super().check()
        if self.lease_duration_secs <= self.heartbeat_interval_secs:
            raise SystemExit(
                "WORKER_LEASE_DURATION_SECS must be greater than WORKER_HEARTBEAT_INTERVAL_SECS"
            )
        if not 0 <= self.default_max_retries <= 100:
            raise SystemExit("QUEUE_DEFAULT_MAX_RETRIES must be within 0..100")
        if not 1 <= self.default_timeout_secs <= 86400:
            raise SystemExit("QUEUE_DEFAULT_TIMEOUT_SECS must be within 1..86400")
        if (
            self.reaper_interval_secs <= 0
            or self.due_scan_interval_secs <= 0
            or self.retention_interval_secs <= 0
        ):
            raise SystemExit("maintenance intervals must be positive")
        if self.is_production and not self.billing_addr:
            raise SystemExit("BILLING_ADDR must be set in production (plan limits are enforced)")
        plans.validate_environment()
