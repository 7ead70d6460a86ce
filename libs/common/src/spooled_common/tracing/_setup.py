"""Turning the OpenTelemetry SDK on (or leaving it off) for one service process.

Tracing is on only when an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``) and
not disabled (``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``).
Off, nothing of the SDK is imported and every hook in the services checks
:func:`enabled` first and does nothing else, so the hot path pays one function
call per request.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

#: Instrumentation scope of every span Spooled creates itself.
SCOPE = "spooled"
#: How long a stopping service waits for its last spans to reach the collector.
FLUSH_TIMEOUT_MILLIS = 5000


@dataclass
class _State:
    tracer: trace.Tracer | None = None
    provider: TracerProvider | None = None


_STATE = _State()


def enabled() -> bool:
    """True once :func:`configure` (or :func:`install`) turned tracing on."""
    return _STATE.tracer is not None


def provider() -> TracerProvider | None:
    """The SDK provider while tracing is on (for libraries that take one)."""
    return _STATE.provider


def tracer() -> trace.Tracer:
    """The tracer of this process (a no-op one while tracing is off)."""
    return _STATE.tracer or trace.NoOpTracer()


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def endpoint() -> str:
    """The configured OTLP endpoint for traces, or "" when none is."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def wanted() -> bool:
    """Whether the environment asks for tracing (an endpoint, and not disabled)."""
    if _env_true("OTEL_SDK_DISABLED"):
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(endpoint())


def package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def configure(service_name: str, distribution: str) -> bool:
    """Set up the SDK with the OTLP/gRPC exporter when the environment asks for it.

    Args:
        service_name: ``service.name`` of the spans (``OTEL_SERVICE_NAME`` and
            ``OTEL_RESOURCE_ATTRIBUTES`` override it), e.g. "spooled-queue-core".
        distribution: the package whose version becomes ``service.version``.

    Returns:
        True when tracing is now on.
    """
    if enabled() or not wanted():
        return enabled()
    # Imported here: a process without tracing never loads the SDK or exporter.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    defaults = {"service.name": service_name, "service.version": package_version(distribution)}
    # The environment wins over our defaults (Resource.create alone would do the opposite).
    resource = Resource.create(defaults).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    # Endpoint, headers, TLS, timeouts and batch sizes come from the OTEL_* variables.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    install(provider)
    log.info("tracing on: %s exports spans to %s", resource.attributes["service.name"], endpoint())
    return True


def install(provider: TracerProvider) -> None:
    """Use ``provider`` for every Spooled span (``configure``, and tests)."""
    _STATE.provider = provider
    _STATE.tracer = provider.get_tracer(SCOPE)


def shutdown() -> None:
    """Flush the spans still buffered and stop the exporter (service stop)."""
    provider, _STATE.provider, _STATE.tracer = _STATE.provider, None, None
    if provider is None:
        return
    try:
        provider.force_flush(FLUSH_TIMEOUT_MILLIS)
        provider.shutdown()
    except Exception as exc:  # a collector that is away must not fail the stop
        log.warning("tracing shutdown: %s: %s", type(exc).__name__, exc)


def reset() -> None:
    """Turn tracing off without flushing (tests that installed a provider)."""
    _STATE.provider = None
    _STATE.tracer = None
