"""Gateway settings (environment variables named as upstream where one exists)."""

from __future__ import annotations

from pydantic import Field
from spooled_common import plans
from spooled_common.settings import ServiceSettings

DEV_JWT_SECRET = "development-secret-change-in-production"


class GatewaySettings(ServiceSettings):
    host: str = Field(default="0.0.0.0", alias="HOST")
    port: int = Field(default=8080, alias="PORT")
    grpc_port: int = Field(default=50051, alias="GRPC_PORT")
    #: Where queue-core's internal gRPC listens.
    queue_core_addr: str = Field(default="127.0.0.1:50061", alias="QUEUE_CORE_ADDR")
    #: The realtime service (SSE/WebSocket) the gateway proxies /events* and /ws to.
    realtime_url: str = Field(default="http://127.0.0.1:8083", alias="REALTIME_URL")
    #: Where the scheduler's internal gRPC listens.
    scheduler_addr: str = Field(default="127.0.0.1:50062", alias="SCHEDULER_ADDR")
    #: Where the webhooks service's internal gRPC listens (outgoing and incoming webhooks).
    webhooks_addr: str = Field(default="127.0.0.1:50064", alias="WEBHOOKS_ADDR")
    #: Where billing's internal gRPC listens (plans, daily usage, Stripe events).
    billing_addr: str = Field(default="127.0.0.1:50063", alias="BILLING_ADDR")
    #: Shared rate-limit buckets across replicas; empty = per-replica buckets
    #: (each replica then allows up to the full plan rate: see ratelimit/).
    redis_url: str = Field(default="", alias="REDIS_URL")
    #: Unauthenticated requests, per client IP (upstream names and defaults).
    public_rate_per_second: float = Field(
        default=100.0, gt=0, alias="RATE_LIMIT_REQUESTS_PER_SECOND"
    )
    public_burst: int = Field(default=200, ge=1, alias="RATE_LIMIT_BURST_SIZE")
    #: Requests of one organization handled at once by one replica; more wait
    #: (up to SPOOLED_ORG_INFLIGHT_WAIT_SECS, then 429) holding no connection.
    org_max_inflight: int = Field(default=16, ge=1, alias="SPOOLED_ORG_MAX_INFLIGHT")
    org_inflight_wait_secs: float = Field(
        default=10.0, ge=0, alias="SPOOLED_ORG_INFLIGHT_WAIT_SECS"
    )
    jwt_secret: str = Field(default=DEV_JWT_SECRET, alias="JWT_SECRET")
    jwt_expiration_hours: int = Field(default=24, ge=1, le=8760, alias="JWT_EXPIRATION_HOURS")
    #: open | closed | invite
    registration_mode: str = Field(default="open", alias="REGISTRATION_MODE")
    admin_api_key: str | None = Field(default=None, alias="ADMIN_API_KEY")
    #: Largest request body accepted at all (plan limits are checked later).
    max_body_bytes: int = Field(default=6 * 1024 * 1024, alias="SPOOLED_MAX_BODY_BYTES")
    #: Largest job payload (serialized JSON) accepted.
    max_payload_bytes: int = Field(default=1024 * 1024, alias="QUEUE_MAX_PAYLOAD_SIZE_BYTES")
    external_url: str = Field(default="http://127.0.0.1:8080", alias="SPOOLED_EXTERNAL_URL")
    worker_lease_duration_secs: int = Field(default=30, alias="WORKER_LEASE_DURATION_SECS")
    worker_heartbeat_interval_secs: int = Field(default=10, alias="WORKER_HEARTBEAT_INTERVAL_SECS")
    #: Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is
    #: believed (per-IP login throttling); empty = use the TCP peer address.
    trusted_proxies: str = Field(default="", alias="SPOOLED_TRUSTED_PROXIES")

    @property
    def key_env(self) -> str:
        """API keys read ``sp_live_`` in production, ``sp_test_`` elsewhere."""
        return "live" if self.is_production else "test"

    def check(self) -> None:
        super().check()
        if self.is_production and (self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32):
            raise SystemExit(
                "JWT_SECRET must be set to at least 32 random characters in production"
            )
        if self.registration_mode not in {"open", "closed", "invite"}:
            raise SystemExit("REGISTRATION_MODE must be one of open, closed, invite")
        plans.validate_environment()
