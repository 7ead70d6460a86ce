"""Every rendered object against the Kubernetes OpenAPI schemas (offline, strict).

kubernetes-validate ships the schemas of every Kubernetes minor release; we
check the oldest version the chart supports (Chart.yaml kubeVersion) and the
newest one it knows. prometheus-operator objects (ServiceMonitor,
PrometheusRule) have no schema there: they get a structural check of the
fields we use, plus the semantic checks that matter (what they select).
"""

from __future__ import annotations

import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from . import k8s

OLDEST = "1.27.0"
NEWEST = kubernetes_validate.latest_version()
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
RULES = k8s.ROOT / "deploy" / "prometheus" / "spooled-alerts.rules.yaml"

DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h))+$"}
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                            "relabelings": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "action": {"enum": ["replace", "keep", "drop", "labelmap"]},
                                        "targetLabel": {"type": "string"},
                                        "replacement": {"type": "string"},
                                        "sourceLabels": {"type": "array"},
                                        "regex": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
PROMETHEUS_RULE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {"groups": {"type": "array", "minItems": 1}},
        },
    },
}


def _validate(render: k8s.Render, version: str) -> list[str]:
    errors = []
    for doc in render.docs:
        where = f"{render.name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {doc['apiVersion']} {doc['kind']} in {version}")
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
    return errors


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_object_is_valid_kubernetes(render: k8s.Render, version: str) -> None:
    assert _validate(render, version) == []


def test_chart_claims_the_oldest_version_checked() -> None:
    chart = yaml.safe_load((k8s.CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={OLDEST}-0"


def test_validation_catches_a_misspelt_field(renders: dict[str, k8s.Render]) -> None:
    """Guards the guard: strict mode must reject unknown fields."""
    deployment = renders["helm-default"].deployments[0]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, NEWEST, strict=True)


class TestPrometheusOperatorObjects:
    def test_service_monitors_scrape_a_real_metrics_port(self, render: k8s.Render) -> None:
        for sm in render.of_kind("ServiceMonitor"):
            jsonschema.validate(sm, SERVICE_MONITOR)
            selector = sm["spec"]["selector"]["matchLabels"]
            services = [
                s
                for s in render.of_kind("Service")
                if selector.items() <= s["metadata"]["labels"].items()
            ]
            assert len(services) == 1, f"{sm['metadata']['name']} selects {len(services)} Services"
            ports = {p["name"] for p in services[0]["spec"]["ports"]}
            component = services[0]["metadata"]["labels"]["app.kubernetes.io/component"]
            for ep in sm["spec"]["endpoints"]:
                assert ep["port"] in ports
                assert _seconds(ep["scrapeTimeout"]) <= _seconds(ep["interval"])
                # The alert rules and dashboards select targets by spooled_component.
                assert {
                    "action": "replace",
                    "targetLabel": "spooled_component",
                    "replacement": component,
                } in ep["relabelings"]

    def test_production_monitors_every_component_with_metrics(
        self, renders: dict[str, k8s.Render]
    ) -> None:
        for name in ("helm-production", "kustomize-production"):
            monitored = {
                sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
                for sm in renders[name].of_kind("ServiceMonitor")
            }
            assert monitored == {
                "gateway", "queue-core", "scheduler", "webhooks", "billing", "realtime"
            }, name  # fmt: skip

    def test_prometheus_rule_carries_the_rule_file(self, renders: dict[str, k8s.Render]) -> None:
        (rule,) = renders["helm-production"].of_kind("PrometheusRule")
        jsonschema.validate(rule, PROMETHEUS_RULE)
        assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]

    def test_dashboards_ship_verbatim(self, renders: dict[str, k8s.Render]) -> None:
        files = {p.name: p.read_text() for p in (k8s.ROOT / "deploy" / "grafana").glob("*.json")}
        for name in ("helm-production", "kustomize-production"):
            shipped = {
                key: value
                for cm in renders[name].of_kind("ConfigMap")
                if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
                for key, value in cm["data"].items()
            }
            assert {k: v.strip() for k, v in shipped.items()} == {
                k: v.strip() for k, v in files.items()
            }, name


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", duration))
