"""The Helm chart: lint, render, refusals, hooks, and the packaged chart."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from . import k8s

PRODUCTION = k8s.CHART / "values-production.yaml"
#: Helm logs this (level INFO) for files/grafana and files/prometheus, which
#: are symlinks to deploy/grafana and deploy/prometheus: expected, not a warning.
SYMLINK_NOTE = "found symbolic link in path"


def _noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and SYMLINK_NOTE not in line]


class TestLint:
    @pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
    def test_lint_strict_passes(self, tools: k8s.Tools, values: Path | None) -> None:
        args: list[str | Path] = ["lint", "--strict", k8s.CHART]
        if values is not None:
            args += ["-f", values]
        out = tools.run("helm", *args)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert "1 chart(s) linted, 0 chart(s) failed" in text
        # helm 4's lint only logs a template's `fail`: look for it ourselves.
        assert "[WARNING]" not in text and "[ERROR]" not in text, text
        assert "funcMap fail" not in text, text

    @pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
    def test_helm3_lints_and_renders_the_same(self, tools: k8s.Tools, values: Path | None) -> None:
        extra: list[str | Path] = [] if values is None else ["-f", values]
        lint = tools.run("helm3", "lint", "--strict", k8s.CHART, *extra)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert "[WARNING]" not in lint.stdout and "[ERROR]" not in lint.stdout
        v3 = tools.run("helm3", "template", k8s.RELEASE, k8s.CHART, *extra)
        v4 = tools.run("helm", "template", k8s.RELEASE, k8s.CHART, *extra)
        assert v3.returncode == 0, v3.stderr
        # Identical but for the random values of the generated development Secret.
        strip = [d for d in k8s.parse(v3.stdout) if d["kind"] != "Secret"]
        assert strip == [d for d in k8s.parse(v4.stdout) if d["kind"] != "Secret"]

    def test_template_prints_no_warnings(self, renders: dict[str, k8s.Render]) -> None:
        for name in ("helm-default", "helm-production"):
            assert _noise(renders[name].stderr) == [], name


def _template(tools: k8s.Tools, *args: str) -> tuple[int, str]:
    out = tools.run("helm", "template", k8s.RELEASE, k8s.CHART, *args)
    return out.returncode, out.stdout + out.stderr


class TestRefusals:
    """Configurations that would install but not work are refused at render time."""

    def test_production_refuses_generated_database_secret(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "-f", str(PRODUCTION), "--set", "database.existingSecret=")
        assert rc != 0
        assert "secrets by reference only" in text and "database.existingSecret" in text

    def test_production_refuses_generated_tokens(self, tools: k8s.Tools) -> None:
        rc, text = _template(
            tools, "-f", str(PRODUCTION), "--set", "secrets.jwtSecret.existingSecret="
        )
        assert rc != 0
        assert "secrets.jwtSecret.existingSecret" in text

    def test_internal_services_stay_cluster_ip(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "components.queue-core.service.type=LoadBalancer")
        assert rc != 0
        assert "only a public component" in text

    def test_gateway_needs_queue_core(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "components.queue-core.enabled=false")
        assert rc != 0
        assert "QUEUE_CORE_ADDR needs component queue-core enabled" in text

    def test_unknown_environment(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "environment=prod")
        assert rc != 0
        assert "environment" in text

    def test_schema_rejects_misspelt_values(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "components.gateway.replica=3")
        assert rc != 0
        assert "replica" in text

    def test_realtime_needs_nats(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "components.realtime.enabled=true")
        assert rc != 0
        assert "components.realtime needs NATS" in text

    def test_unknown_uses_entry(self, tools: k8s.Tools) -> None:
        rc, text = _template(tools, "--set", "components.scheduler.uses={database,kafka}")
        assert rc != 0
        assert "kafka" in text


class TestComponents:
    def test_optional_component_can_be_disabled(self, tools: k8s.Tools) -> None:
        out = tools.run(
            "helm",
            "template",
            k8s.RELEASE,
            k8s.CHART,
            "--set",
            "components.scheduler.enabled=false",
        )
        assert out.returncode == 0, out.stderr
        docs = k8s.parse(out.stdout)
        names = {d["metadata"]["name"] for d in docs}
        assert not any("scheduler" in n for n in names), names
        gateway = next(
            d for d in docs if d["kind"] == "Deployment" and k8s.component(d) == "gateway"
        )
        env = {e["name"] for e in k8s.main_container(gateway)["env"]}
        assert "SCHEDULER_ADDR" not in env and "QUEUE_CORE_ADDR" in env

    def test_realtime_behind_the_gateway(self, tools: k8s.Tools) -> None:
        """Enabled (with NATS), realtime is an internal Service the gateway proxies to."""
        out = tools.run(
            "helm", "template", k8s.RELEASE, k8s.CHART,
            "--set", "nats.url=nats://nats.example:4222",
            "--set", "components.realtime.enabled=true",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        docs = k8s.parse(out.stdout)
        deployments = {k8s.component(d): d for d in docs if d["kind"] == "Deployment"}
        env = {
            name: {e["name"]: e.get("value") for e in k8s.main_container(d)["env"]}
            for name, d in deployments.items()
        }
        assert env["gateway"]["REALTIME_URL"] == "http://spooled-realtime:8083"
        assert env["realtime"]["NATS_URL"] == "nats://nats.example:4222"
        assert env["realtime"]["QUEUE_CORE_ADDR"] == "spooled-queue-core:50061"
        assert env["realtime"]["REALTIME_PORT"] == "8083"
        assert "DATABASE_URL" not in env["realtime"]
        (svc,) = [d for d in docs if d["kind"] == "Service" and k8s.component(d) == "realtime"]
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
        # No schema: no migration Job.
        jobs = [d["metadata"]["name"] for d in docs if d["kind"] == "Job"]
        assert jobs and not any("realtime" in j for j in jobs), jobs
        monitors = tools.run(
            "helm", "template", k8s.RELEASE, k8s.CHART,
            "--set", "nats.url=nats://nats.example:4222",
            "--set", "components.realtime.enabled=true", "--set", "serviceMonitor.enabled=true",
        )  # fmt: skip
        assert monitors.returncode == 0, monitors.stderr
        scraped = {
            k8s.component(d): d["spec"]["endpoints"][0]["port"]
            for d in k8s.parse(monitors.stdout)
            if d["kind"] == "ServiceMonitor"
        }
        assert scraped["realtime"] == "http"

    def test_connections_can_carry_a_scheme(self, tools: k8s.Tools) -> None:
        out = tools.run(
            "helm", "template", k8s.RELEASE, k8s.CHART,
            "--set", "components.gateway.connectsTo.REALTIME_URL.component=scheduler",
            "--set", "components.gateway.connectsTo.REALTIME_URL.port=http",
            "--set", "components.gateway.connectsTo.REALTIME_URL.scheme=http",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        gateway = next(
            d
            for d in k8s.parse(out.stdout)
            if d["kind"] == "Deployment" and k8s.component(d) == "gateway"
        )
        env = {e["name"]: e.get("value") for e in k8s.main_container(gateway)["env"]}
        assert env["REALTIME_URL"] == "http://spooled-scheduler:8082"
        assert env["QUEUE_CORE_ADDR"] == "spooled-queue-core:50061"

    def test_image_registry_and_tag(self, tools: k8s.Tools) -> None:
        out = tools.run(
            "helm", "template", k8s.RELEASE, k8s.CHART,
            "--set", "image.registry=ghcr.io/acme/", "--set", "image.tag=1.2.3",
            "--set", "components.scheduler.image.tag=9.9.9",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        images = {
            k8s.component(d): k8s.main_container(d)["image"]
            for d in k8s.parse(out.stdout)
            if d["kind"] == "Deployment"
        }
        assert images == {
            "gateway": "ghcr.io/acme/spooled/gateway:1.2.3",
            "queue-core": "ghcr.io/acme/spooled/queue-core:1.2.3",
            "scheduler": "ghcr.io/acme/spooled/scheduler:9.9.9",
            "webhooks": "ghcr.io/acme/spooled/webhooks:1.2.3",
            "billing": "ghcr.io/acme/spooled/billing:1.2.3",
        }


class TestHooks:
    def test_generated_secret_precedes_the_migrations(self, renders: dict[str, k8s.Render]) -> None:
        render = renders["helm-default"]
        secret = render.get("Secret", f"{k8s.RELEASE}-generated")
        assert secret is not None
        notes = secret["metadata"]["annotations"]
        assert notes[k8s.HOOK] == "pre-install,pre-upgrade"
        jobs = render.hook_jobs()
        assert jobs
        for job in jobs:
            annotations = job["metadata"]["annotations"]
            assert annotations[k8s.HOOK] == "pre-install,pre-upgrade"
            assert int(annotations["helm.sh/hook-weight"]) > int(notes["helm.sh/hook-weight"])
        assert set(secret["data"]) == {
            "DATABASE_URL", "SPOOLED_INTERNAL_TOKEN", "JWT_SECRET", "ADMIN_API_KEY",
        }  # fmt: skip

    def test_production_generates_no_secret(self, renders: dict[str, k8s.Render]) -> None:
        assert renders["helm-production"].of_kind("Secret") == []

    def test_migration_pods_are_not_service_endpoints(self, render: k8s.Render) -> None:
        for job in render.hook_jobs():
            labels = k8s.pod_labels(job)
            for selecting in render.of_kind("Service") + render.of_kind("PodDisruptionBudget"):
                spec = selecting["spec"]
                selector = spec.get("selector", {})
                selector = selector.get("matchLabels", selector)
                assert not selector.items() <= labels.items(), (
                    f"{selecting['kind']} {selecting['metadata']['name']} selects migration pods"
                )


@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_install_notes_render(tools: k8s.Tools, values: Path | None) -> None:
    """NOTES.txt is rendered only by install/upgrade: a client-side dry run, no cluster."""
    extra: list[str | Path] = [] if values is None else ["-f", values]
    out = tools.run(
        "helm", "install", k8s.RELEASE, k8s.CHART, "--dry-run=client", "-n", "spooled", *extra
    )
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    if values is None:
        assert "Components: billing, gateway, queue-core, scheduler, webhooks\n" in notes
        assert "port-forward svc/spooled-gateway 8080:8080 50051:50051" in notes
        assert "spooled-generated" in notes
        assert "Live events (/api/v1/events, /api/v1/ws) are off" in notes
    else:
        assert "Components: billing, gateway, queue-core, realtime, scheduler, webhooks\n" in notes
        assert "https://spooled.example.com/" in notes and "generated" not in notes
        assert "Live events" not in notes and "Traces go to http://jaeger-collector" in notes


def test_packaged_chart_carries_the_linked_rules_and_dashboards(
    tools: k8s.Tools, tmp_path: Path
) -> None:
    out = tools.run("helm", "package", k8s.CHART, "--destination", tmp_path)
    assert out.returncode == 0, out.stderr
    (archive,) = tmp_path.glob("spooled-*.tgz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "spooled/files/prometheus/spooled-alerts.rules.yaml" in names
    for dashboard in (k8s.ROOT / "deploy" / "grafana").glob("*.json"):
        assert f"spooled/files/grafana/{dashboard.name}" in names
    linked = {n for n in names if n.startswith("spooled/files/")}
    assert all(n.endswith((".json", ".rules.yaml")) for n in linked), linked
