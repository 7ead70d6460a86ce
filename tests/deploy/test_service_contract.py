"""The rendered ports, probes and env vars against what each service really serves.

* Static: every env var a container gets is a setting the service reads
  (pydantic-settings aliases of its ``settings`` modules), and every command
  is a console script of the workspace.
* Live: each render is run as local processes (live.py): migrations first
  (twice: install, then upgrade), then every Deployment with its rendered
  env; the startup, readiness and liveness probe paths must answer 200 on the
  rendered ports, every gRPC Service port must report SERVING, every
  ServiceMonitor endpoint must serve metrics, and SIGTERM must stop each pod
  within its terminationGracePeriodSeconds.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from . import k8s, live


@cache
def settings_env_names(script: str) -> frozenset[str]:
    """Every env var name the package behind a console script reads through pydantic-settings."""
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name=script)
    package = entry.module.split(".")[0]
    root = Path(importlib.import_module(package).__file__ or "").parent
    names: set[str] = set()
    for path in root.rglob("settings.py"):
        dotted = ".".join((package, *path.relative_to(root).with_suffix("").parts))
        module = importlib.import_module(dotted)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings:
                prefix = str(obj.model_config.get("env_prefix", ""))
                for field_name, info in obj.model_fields.items():
                    alias = info.alias or info.validation_alias
                    names.add(str(alias if isinstance(alias, str) else prefix + field_name).upper())
    assert names, f"{package} has no pydantic-settings class in a settings.py"
    return frozenset(names)


#: Every service of the suite, each a Deployment in the production renders.
ALL_COMPONENTS = {"gateway", "queue-core", "scheduler", "webhooks", "billing", "realtime"}

#: Read by libraries from the environment directly, not through pydantic-settings
#: (the OpenTelemetry SDK's standard variables).
LIBRARY_ENV_PREFIXES = ("OTEL_",)


def _containers(render: k8s.Render) -> Iterator[tuple[str, k8s.Obj]]:
    for workload in render.deployments + render.hook_jobs():
        for c in k8s.all_containers(workload):
            yield f"{render.name}: {workload['metadata']['name']}/{c['name']}", c


def _env_names(render: k8s.Render, container: k8s.Obj) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    for src in container.get("envFrom", []):
        ref = src.get("configMapRef") or src.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in src else "Secret"
        obj = render.get(kind, ref["name"])
        assert obj is not None, f"envFrom {kind} {ref['name']} is not in the render"
        names |= set(obj.get("data", {}))
    return names


class TestStatic:
    def test_commands_are_workspace_console_scripts(self, render: k8s.Render) -> None:
        for where, c in _containers(render):
            assert (live.VENV_BIN / c["command"][0]).exists(), where
            assert c["args"] in (["serve"], ["migrate"]), where

    def test_every_env_var_is_a_setting_the_service_reads(self, render: k8s.Render) -> None:
        for where, c in _containers(render):
            names = {n for n in _env_names(render, c) if not n.startswith(LIBRARY_ENV_PREFIXES)}
            unknown = names - settings_env_names(c["command"][0])
            assert not unknown, f"{where}: {sorted(unknown)} are read by no settings class"

    def test_the_discovery_sees_the_real_settings(self) -> None:
        """Guards the check above against finding nothing and passing vacuously."""
        gateway = settings_env_names("spooled-gateway")
        assert {"PORT", "GRPC_PORT", "QUEUE_CORE_ADDR", "DATABASE_URL", "JWT_SECRET"} <= gateway
        assert "QUEUE_CORE_HTTP_PORT" not in gateway
        assert {"QUEUE_CORE_HTTP_PORT", "QUEUE_CORE_GRPC_PORT"} <= settings_env_names(
            "spooled-queue-core"
        )


@pytest.fixture
def infra(request: pytest.FixtureRequest, pg_server: object) -> Iterator[dict[str, str]]:
    """DATABASE_URL (a fresh database), an OTLP sink for traces; NATS_URL only when
    the render needs it."""
    name = request.node.callspec.params["render"].replace("-", "_")
    infra = {"DATABASE_URL": pg_server.create_database(f"deploy_{name}")}  # type: ignore[attr-defined]
    if request.node.callspec.params["render"].endswith("production"):
        infra["NATS_URL"] = request.getfixturevalue("nats_server").url
    with live.OtlpSink() as sink:
        infra["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        yield infra


@pytest.mark.slow
def test_rendered_workloads_serve_their_probes(
    render: k8s.Render, infra: dict[str, str], tmp_path: Path
) -> None:
    cluster = live.LocalCluster(render, tmp_path / render.name, infra)
    try:
        steps = cluster.migrate()
        migrating = [
            d for d in render.deployments
            if live.cli_has_migrate(k8s.main_container(d)["command"][0])
        ]  # fmt: skip
        assert len(steps) == len(migrating)
        cluster.migrate()  # an upgrade runs them again: no-op, still exit 0

        cluster.start()
        probes = cluster.wait_probes()
        assert set(probes) == {d["metadata"]["name"] for d in render.deployments}
        if render.name.endswith("production"):
            # Every service runs in production, realtime (which needs NATS) included.
            assert {k8s.component(d) for d in render.deployments} == ALL_COMPONENTS
        assert all(code == 200 for codes in probes.values() for code in codes.values()), probes

        grpc_ports = cluster.grpc_health()
        assert grpc_ports and set(grpc_ports.values()) == {"SERVING"}, grpc_ports
        samples = cluster.scrape_monitors()
        if render.name.endswith("production"):
            assert set(samples) and all(n > 0 for n in samples.values()), samples

        # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean exit too.
        for name, (code, _seconds) in cluster.stop().items():
            pod = cluster.pods[name]
            assert code is not None, (
                f"{name} ignored SIGTERM for its grace period:\n{pod.log_tail()}"
            )
            assert code in (0, -15), f"{name} exited {code} on SIGTERM:\n{pod.log_tail()}"
    finally:
        cluster.kill()
