"""HTTP server spans of the gateway, by FastAPI's own OpenTelemetry support.

FastAPI (0.16x) creates a SERVER span per request itself: named
``<METHOD> <route template>`` (``POST /api/v1/jobs``), continuing the caller's
W3C ``traceparent``, with the HTTP semantic-convention attributes
(``http.request.method``, ``http.route``, ``url.path``,
``http.response.status_code``, ``server.address``). :func:`fastapi_telemetry`
is the app's ``telemetry=`` setting: our tracer provider, spans only (our
metrics are Prometheus, our logs go to stderr), no per-dependency "operation"
spans, no spans for probes and scrapes, and everything off while tracing is
off, so FastAPI skips its telemetry wrapper at the first check.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from spooled_common.tracing._setup import enabled, provider

#: Probes and scrapes: traced, they would drown the requests that matter.
UNTRACED_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/ready", "/metrics"})


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def fastapi_telemetry() -> dict[str, Any]:
    """The ``FastAPI(telemetry=...)`` configuration (a ``fastapi.telemetry.TelemetryConfig``)."""
    return {
        "tracing": enabled(),
        "tracer_provider": provider(),
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": _untraced,
    }
