"""tracing.configure(): when the SDK is set up, what it exports, and what it costs when off.

Each configure() runs in a child process: the global tracer provider can be set
once per process, and "the SDK is never imported" is only observable in a fresh one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from spooled_common import tracing
from spooled_testing.otlp import OtlpReceiver

_OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)

_CHILD = """
import json, sys
from spooled_common import tracing
on = tracing.configure("spooled-test-service", "spooled-common")
with tracing.tracer().start_as_current_span("child-span") as span:
    tp = tracing.traceparent()
tracing.shutdown()
print(json.dumps({
    "on": on,
    "traceparent": tp,
    "sdk_loaded": "opentelemetry.sdk.trace" in sys.modules,
    "exporter_loaded": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter" in sys.modules,
}))
"""


def run_child(**env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if k not in _OTEL_VARS}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class TestWanted:
    @pytest.fixture(autouse=True)
    def _clean_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in _OTEL_VARS:
            monkeypatch.delenv(name, raising=False)

    def test_off_without_an_endpoint(self) -> None:
        assert tracing.wanted() is False

    @pytest.mark.parametrize(
        "name", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    )
    def test_on_with_either_endpoint(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        monkeypatch.setenv(name, "http://collector:4317")
        assert tracing.wanted() is True

    @pytest.mark.parametrize(
        ("name", "value"), [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")]
    )
    def test_disabled_wins_over_an_endpoint(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
        monkeypatch.setenv(name, value)
        assert tracing.wanted() is False


class TestConfigure:
    def test_without_an_endpoint_nothing_is_loaded_and_nothing_propagates(self) -> None:
        got = run_child()
        assert got == {
            "on": False,
            "traceparent": None,
            "sdk_loaded": False,
            "exporter_loaded": False,
        }

    def test_sdk_disabled_stays_off(self, otlp_receiver: OtlpReceiver) -> None:
        got = run_child(
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint, OTEL_SDK_DISABLED="true"
        )
        assert got["on"] is False and got["sdk_loaded"] is False
        assert otlp_receiver.spans == []

    def test_exports_over_otlp_grpc_with_service_name_and_version(
        self, otlp_receiver: OtlpReceiver
    ) -> None:
        got = run_child(OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint)
        assert got["on"] is True
        # shutdown() flushed before the child exited: the span is already here.
        [span] = otlp_receiver.spans
        assert span.name == "child-span"
        version, trace_id, span_id, flags = got["traceparent"].split("-")
        assert (version, trace_id, span_id) == ("00", span.trace_id, span.span_id)
        assert int(flags, 16) & 0x01, "sampled"
        assert span.resource["service.name"] == "spooled-test-service"
        assert span.resource["service.version"] == tracing.package_version("spooled-common")
        assert span.resource["service.version"] != "0.0.0"

    def test_otel_service_name_overrides_ours(self, otlp_receiver: OtlpReceiver) -> None:
        run_child(
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
            OTEL_SERVICE_NAME="queue-core-eu",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=staging",
        )
        [span] = otlp_receiver.spans
        assert span.resource["service.name"] == "queue-core-eu"
        assert span.resource["deployment.environment.name"] == "staging"
