"""Webhooks settings, read from the environment (names in the field aliases).

Upstream names where upstream has one (``OUTGOING_WEBHOOK_MAX_ATTEMPTS``,
``OUTGOING_WEBHOOK_MAX_CONCURRENT_DELIVERIES``); ``WEBHOOKS_*`` otherwise.
"""

from __future__ import annotations

from pydantic import Field
from spooled_common.settings import ServiceSettings

#: Defaults, named so code and docs (services/webhooks/README.md) agree.
DEFAULT_GRPC_PORT = 50064
DEFAULT_HTTP_PORT = 8084
DEFAULT_QUEUE_CORE_ADDR = "127.0.0.1:50061"
DEFAULT_CONSUMER_NAME = "spooled-webhooks-v1"
#: 12 attempts, 30 s doubling to a 4 h cap: the last one about 12 hours after the event.
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_RETRY_BASE_SECS = 30.0
DEFAULT_RETRY_MAX_SECS = 4 * 3600.0
DEFAULT_AUTO_DISABLE_AFTER = 20
DEFAULT_MAX_CONCURRENT = 64
DEFAULT_REQUEST_TIMEOUT_SECS = 10.0
DEFAULT_CONNECT_TIMEOUT_SECS = 5.0
DEFAULT_STRIPE_TOLERANCE_SECS = 300


class WebhooksSettings(ServiceSettings):
    grpc_host: str = Field(default="0.0.0.0", alias="WEBHOOKS_GRPC_HOST")
    grpc_port: int = Field(default=DEFAULT_GRPC_PORT, alias="WEBHOOKS_GRPC_PORT")
    #: /health, /ready and /metrics.
    http_host: str = Field(default="0.0.0.0", alias="WEBHOOKS_HTTP_HOST")
    http_port: int = Field(default=DEFAULT_HTTP_PORT, alias="WEBHOOKS_HTTP_PORT")
    #: Where queue-core's internal gRPC listens (incoming webhooks become jobs there).
    queue_core_addr: str = Field(default=DEFAULT_QUEUE_CORE_ADDR, alias="QUEUE_CORE_ADDR")
    #: NATS with JetStream; empty: no event consumption (CRUD, tests and ingestion still work).
    nats_url: str = Field(default="", alias="NATS_URL")

    # -- the event stream ----------------------------------------------------------
    #: Durable consumer on SPOOLED_EVENTS shared by every replica (each message to one).
    consumer_name: str = Field(default=DEFAULT_CONSUMER_NAME, alias="WEBHOOKS_CONSUMER_NAME")
    #: Where a newly created consumer starts: ``all`` (everything the stream still
    #: holds, so events published before the first deploy are not skipped) or ``new``.
    deliver_policy: str = Field(default="all", alias="WEBHOOKS_CONSUMER_DELIVER_POLICY")
    #: Messages pulled (and fanned out in one transaction) at a time.
    fetch_batch: int = Field(default=256, ge=1, le=10_000, alias="WEBHOOKS_FETCH_BATCH")
    #: JetStream redelivers a message not acknowledged this long after delivery.
    ack_wait_secs: float = Field(default=30.0, gt=0, alias="WEBHOOKS_ACK_WAIT_SECS")

    # -- outgoing deliveries -------------------------------------------------------
    #: Comma-separated exceptions to the SSRF guard, for development: a host name or
    #: IP matches the URL's host exactly; a CIDR (``10.0.0.0/8``) admits any address
    #: in it after DNS resolution. Empty: only public addresses are reachable.
    allowed_hosts: str = Field(default="", alias="WEBHOOKS_ALLOWED_HOSTS")
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS, ge=1, le=100, alias="OUTGOING_WEBHOOK_MAX_ATTEMPTS"
    )
    max_concurrent: int = Field(
        default=DEFAULT_MAX_CONCURRENT,
        ge=1,
        le=10_000,
        alias="OUTGOING_WEBHOOK_MAX_CONCURRENT_DELIVERIES",
    )
    #: Delay after the first failed attempt; doubles per attempt up to the max (±25 % jitter).
    retry_base_secs: float = Field(
        default=DEFAULT_RETRY_BASE_SECS, gt=0, alias="WEBHOOKS_RETRY_BASE_SECS"
    )
    #: Cap of the backoff and of a receiver's Retry-After.
    retry_max_secs: float = Field(
        default=DEFAULT_RETRY_MAX_SECS, gt=0, alias="WEBHOOKS_RETRY_MAX_SECS"
    )
    #: An endpoint whose last N deliveries all failed for good is disabled.
    auto_disable_after: int = Field(
        default=DEFAULT_AUTO_DISABLE_AFTER, ge=1, alias="WEBHOOKS_AUTO_DISABLE_AFTER"
    )
    request_timeout_secs: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT_SECS, gt=0, alias="WEBHOOKS_REQUEST_TIMEOUT_SECS"
    )
    connect_timeout_secs: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_SECS, gt=0, alias="WEBHOOKS_CONNECT_TIMEOUT_SECS"
    )
    #: A claimed delivery whose sender vanished (crash) is due again after this long.
    claim_lease_secs: float = Field(default=60.0, gt=0, alias="WEBHOOKS_CLAIM_LEASE_SECS")
    #: Longest wait between scans for due deliveries (new events wake the scan at once).
    poll_interval_secs: float = Field(default=1.0, gt=0, alias="WEBHOOKS_POLL_INTERVAL_SECS")
    #: Deliveries (and their attempts) older than this are deleted.
    retention_days: float = Field(default=30.0, gt=0, alias="WEBHOOKS_DELIVERY_RETENTION_DAYS")
    cleanup_interval_secs: float = Field(
        default=3600.0, gt=0, alias="WEBHOOKS_CLEANUP_INTERVAL_SECS"
    )

    # -- incoming webhooks ---------------------------------------------------------
    #: Stripe-Signature timestamps further than this from now are replays (401).
    stripe_tolerance_secs: int = Field(
        default=DEFAULT_STRIPE_TOLERANCE_SECS, ge=1, alias="WEBHOOKS_STRIPE_TOLERANCE_SECS"
    )
    #: Deadline of each queue-core call made for an incoming webhook.
    enqueue_timeout_secs: float = Field(default=10.0, gt=0, alias="WEBHOOKS_ENQUEUE_TIMEOUT_SECS")

    #: Grace period for in-flight RPCs and deliveries on SIGTERM.
    shutdown_grace_secs: float = Field(default=10.0, alias="WEBHOOKS_SHUTDOWN_GRACE_SECS")

    def check(self) -> None:
        super().check()
        if self.deliver_policy not in ("all", "new"):
            raise SystemExit("WEBHOOKS_CONSUMER_DELIVER_POLICY must be 'all' or 'new'")
        if self.retry_max_secs < self.retry_base_secs:
            raise SystemExit("WEBHOOKS_RETRY_MAX_SECS must be at least WEBHOOKS_RETRY_BASE_SECS")
        if self.claim_lease_secs <= self.request_timeout_secs:
            raise SystemExit(
                "WEBHOOKS_CLAIM_LEASE_SECS must exceed WEBHOOKS_REQUEST_TIMEOUT_SECS "
                "(a delivery still in flight must not be claimed again)"
            )
        # Fails fast on a malformed allow-list entry.
        from spooled_webhooks.sending.ssrf import AllowList

        AllowList.parse(self.allowed_hosts)

    def check_serving(self) -> None:
        """What ``serve`` needs on top (``migrate`` runs without NATS)."""
        if self.is_production and not self.nats_url:
            raise SystemExit("NATS_URL must be set in production (deliveries come from the stream)")
