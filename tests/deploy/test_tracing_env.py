"""Tracing settings reach every service: the OpenTelemetry SDK's standard variables.

Helm renders ``otel.endpoint`` / ``otel.sampler`` / ``otel.samplerRatio`` into
each container's env; the Kustomize production overlay carries them in the
``spooled-config`` ConfigMap every container reads through ``envFrom``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import k8s

OTEL = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
JAEGER = "http://jaeger-collector.observability.svc.cluster.local:4317"


def _containers(render: k8s.Render) -> list[tuple[str, k8s.Obj]]:
    return [
        (f"{w['kind']}/{w['metadata']['name']}/{c['name']}", c)
        for w in render.deployments + render.hook_jobs()
        for c in k8s.all_containers(w)
    ]


def _otel_env(render: k8s.Render, container: k8s.Obj) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            cm = render.get("ConfigMap", src["configMapRef"]["name"])
            assert cm is not None
            env.update(cm.get("data", {}))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return {k: v for k, v in env.items() if k in OTEL}


def _template(tools: k8s.Tools, tmp_path: Path, otel: dict[str, object]) -> k8s.Render:
    values = tmp_path / "otel.yaml"
    values.write_text(yaml.safe_dump({"otel": otel}))
    return k8s.helm_template(tools, "helm-otel", values)


def test_helm_renders_the_endpoint_and_ratio_into_every_container(
    tools: k8s.Tools, tmp_path: Path
) -> None:
    render = _template(
        tools, tmp_path, {"endpoint": "http://otel.example:4317", "samplerRatio": 0.25}
    )
    containers = _containers(render)
    assert len(containers) >= 10  # 5 Deployments, 5 migration Jobs
    for where, c in containers:
        assert _otel_env(render, c) == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.example:4317",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
        }, where


def test_a_sampler_without_a_ratio_gets_no_argument(tools: k8s.Tools, tmp_path: Path) -> None:
    render = _template(
        tools, tmp_path, {"endpoint": "http://otel.example:4317", "sampler": "always_on"}
    )
    for where, c in _containers(render):
        assert _otel_env(render, c) == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.example:4317",
            "OTEL_TRACES_SAMPLER": "always_on",
        }, where


def test_schema_refuses_a_ratio_above_one(tools: k8s.Tools, tmp_path: Path) -> None:
    values = tmp_path / "otel.yaml"
    values.write_text(yaml.safe_dump({"otel": {"samplerRatio": 1.5}}))
    out = tools.run("helm", "template", k8s.RELEASE, k8s.CHART, "-f", values)
    assert out.returncode != 0 and "samplerRatio" in out.stderr


def test_no_endpoint_no_tracing_env(renders: dict[str, k8s.Render]) -> None:
    for name in ("helm-default", "kustomize-dev"):
        render = renders[name]
        for where, c in _containers(render):
            assert _otel_env(render, c) == {}, (name, where)


def test_production_renders_send_traces_to_the_collector(renders: dict[str, k8s.Render]) -> None:
    for name in ("helm-production", "kustomize-production"):
        render = renders[name]
        containers = _containers(render)
        assert any("realtime" in where for where, _ in containers), name
        for where, c in containers:
            assert _otel_env(render, c) == {
                "OTEL_EXPORTER_OTLP_ENDPOINT": JAEGER,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
            }, (name, where)
