"""OpenTelemetry tracing for every Spooled service: one setup, one way to carry context.

* **Setup.** Each service calls :func:`configure` at start (``ServiceCommand``
  does it for most) and :func:`shutdown` when it stops. With an OTLP endpoint
  configured (``OTEL_EXPORTER_OTLP_ENDPOINT``, OTLP over gRPC) the SDK exports
  batched spans with ``service.name`` and ``service.version``; without one
  (or with ``OTEL_SDK_DISABLED=true``) nothing is set up and every hook below
  returns at its first line.
* **Where context travels.** HTTP into the gateway (:mod:`.http_server`), every gRPC
  call (:mod:`.grpc_interceptors`, wired by ``spooled_common.rpc``), the
  transaction that writes a job or an outbox row (``tenant_tx`` sets
  ``app.traceparent``, which the columns default to), the NATS event headers
  (:mod:`.messaging`) and the webhook delivery rows.
* **Jobs.** A job keeps the ``traceparent`` of its enqueue; its claim and
  settlement spans and its events continue that trace, so one trace holds a
  job from ``POST /api/v1/jobs`` to its completion webhook (docs/observability.md).
"""

from __future__ import annotations

from spooled_common.tracing import attrs
from spooled_common.tracing._context import (
    TRACEPARENT,
    annotate,
    context_of,
    current_link,
    extract,
    inject,
    span_context_of,
    traceparent,
)
from spooled_common.tracing._setup import (
    configure,
    enabled,
    install,
    package_version,
    provider,
    reset,
    shutdown,
    tracer,
    wanted,
)

__all__ = [
    "TRACEPARENT",
    "annotate",
    "attrs",
    "configure",
    "context_of",
    "current_link",
    "enabled",
    "extract",
    "inject",
    "install",
    "package_version",
    "provider",
    "reset",
    "shutdown",
    "span_context_of",
    "traceparent",
    "tracer",
    "wanted",
]
