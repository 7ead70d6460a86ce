"""Realtime settings, read from the environment (names in the field aliases)."""

from __future__ import annotations

from pydantic import Field
from spooled_common.settings import ServiceSettings

#: Defaults, named so code and docs agree (API.md §12).
DEFAULT_HTTP_PORT = 8083
SSE_KEEPALIVE_SECS = 15.0
SSE_MAX_LIFETIME_SECS = 30 * 60.0
WS_PING_INTERVAL_SECS = 30.0
QUEUE_STATS_INTERVAL_SECS = 5.0
JOB_POLL_INTERVAL_SECS = 5.0
MAX_CONNECTIONS_PER_ORG = 100


class RealtimeSettings(ServiceSettings):
    host: str = Field(default="0.0.0.0", alias="REALTIME_HOST")
    port: int = Field(default=DEFAULT_HTTP_PORT, alias="REALTIME_PORT")
    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    #: queue-core's internal gRPC (job lookups, queue stats).
    queue_core_addr: str = Field(default="127.0.0.1:50061", alias="QUEUE_CORE_ADDR")

    sse_keepalive_secs: float = Field(
        default=SSE_KEEPALIVE_SECS, gt=0, alias="REALTIME_SSE_KEEPALIVE_SECS"
    )
    #: An SSE stream ends after this long with a ``reconnect`` event; clients resume
    #: with Last-Event-ID. Bounds what a replica holds and rebalances connections.
    sse_max_lifetime_secs: float = Field(
        default=SSE_MAX_LIFETIME_SECS, gt=0, alias="REALTIME_SSE_MAX_LIFETIME_SECS"
    )
    ws_ping_interval_secs: float = Field(
        default=WS_PING_INTERVAL_SECS, gt=0, alias="REALTIME_WS_PING_INTERVAL_SECS"
    )
    queue_stats_interval_secs: float = Field(
        default=QUEUE_STATS_INTERVAL_SECS, gt=0, alias="REALTIME_QUEUE_STATS_INTERVAL_SECS"
    )
    #: /events/jobs/{id} re-reads the job this often, in case an event was missed.
    job_poll_interval_secs: float = Field(
        default=JOB_POLL_INTERVAL_SECS, gt=0, alias="REALTIME_JOB_POLL_INTERVAL_SECS"
    )
    max_connections_per_org: int = Field(
        default=MAX_CONNECTIONS_PER_ORG, ge=1, alias="REALTIME_MAX_CONNECTIONS_PER_ORG"
    )
    #: Events buffered per connection; a client slower than this is disconnected
    #: (it resumes from the stream with Last-Event-ID).
    subscriber_buffer: int = Field(default=1000, ge=10, alias="REALTIME_SUBSCRIBER_BUFFER")
    #: At most this many events are replayed for one Last-Event-ID resume.
    replay_limit: int = Field(default=1000, ge=0, alias="REALTIME_REPLAY_LIMIT")
