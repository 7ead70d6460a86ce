"""Settings of the outbox relay (its own env names; queue-core's settings stay untouched)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Defaults, named so code and docs agree.
DEFAULT_BATCH_SIZE = 256
DEFAULT_PUBLISH_WINDOW = 256
DEFAULT_POLL_INTERVAL_SECS = 0.2
DEFAULT_RETENTION_SECS = 3600
DEFAULT_STREAM_MAX_AGE_SECS = 24 * 3600
DEFAULT_DUPLICATE_WINDOW_SECS = 300


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: str = Field(default="development", alias="SPOOLED_ENV")
    #: Empty disables the relay: events wait in core.outbox until it runs.
    nats_url: str = Field(default="", alias="NATS_URL")
    #: Rows read and published per round; a full batch is followed at once by the next.
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=10_000, alias="OUTBOX_BATCH_SIZE")
    #: Publishes awaited together, each of a different aggregate (relay.py, "Order.");
    #: 1 publishes one event at a time. A window never spans two batches.
    publish_window: int = Field(
        default=DEFAULT_PUBLISH_WINDOW, ge=1, le=10_000, alias="OUTBOX_PUBLISH_WINDOW"
    )
    #: Idle re-check when no wake-up arrives (enqueues NOTIFY; settlements do not).
    poll_interval_secs: float = Field(
        default=DEFAULT_POLL_INTERVAL_SECS, gt=0, alias="OUTBOX_POLL_INTERVAL_SECS"
    )
    #: How long one publish may wait for JetStream's ack.
    publish_timeout_secs: float = Field(default=5.0, gt=0, alias="OUTBOX_PUBLISH_TIMEOUT_SECS")
    #: Backoff after a failed publish: doubles from min to max (plus jitter).
    retry_min_secs: float = Field(default=0.2, gt=0, alias="OUTBOX_RETRY_MIN_SECS")
    retry_max_secs: float = Field(default=5.0, gt=0, alias="OUTBOX_RETRY_MAX_SECS")
    #: A replica that is not the relay leader tries to become it this often.
    leader_retry_secs: float = Field(default=2.0, gt=0, alias="OUTBOX_LEADER_RETRY_SECS")
    #: Published rows older than this are deleted (the stream keeps the history).
    retention_secs: float = Field(
        default=DEFAULT_RETENTION_SECS, gt=0, alias="OUTBOX_RETENTION_SECS"
    )
    cleanup_interval_secs: float = Field(default=60.0, gt=0, alias="OUTBOX_CLEANUP_INTERVAL_SECS")
    cleanup_batch_size: int = Field(default=5000, ge=1, alias="OUTBOX_CLEANUP_BATCH_SIZE")
    #: Stream limits, applied when the relay creates the stream.
    stream_max_age_secs: float = Field(
        default=DEFAULT_STREAM_MAX_AGE_SECS, gt=0, alias="EVENTS_STREAM_MAX_AGE_SECS"
    )
    duplicate_window_secs: float = Field(
        default=DEFAULT_DUPLICATE_WINDOW_SECS, gt=0, alias="EVENTS_STREAM_DUPLICATE_WINDOW_SECS"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.nats_url)

    def check(self) -> None:
        if self.environment == "production" and not self.nats_url:
            raise SystemExit("NATS_URL must be set in production (the outbox relay needs it)")
        if self.retry_max_secs < self.retry_min_secs:
            raise SystemExit("OUTBOX_RETRY_MAX_SECS must be at least OUTBOX_RETRY_MIN_SECS")
