"""Run a render's workloads as local processes, the way a node would run the pods.

Everything comes from the rendered objects: each container's command, args and
environment (values, Secret and ConfigMap references, envFrom), its ports and
probes, the migration steps (Helm hook Jobs, init containers), and the
Services other components are told to dial. Only what cannot exist on this
machine is substituted, consistently:

* every container port gets a free local port, and the env var that carries
  the rendered port number carries the local one (a port no env var sets is
  an error: the service would listen on its built-in default instead);
* ``<service>[.<ns>...]:<port>`` of a rendered Service becomes
  ``127.0.0.1:<local port of the container port it targets>``;
* DATABASE_URL and NATS_URL point to the test Postgres/NATS, and
  OTEL_EXPORTER_OTLP_ENDPOINT to a local OTLP/gRPC sink (:class:`OtlpSink`);
* a Secret the render references but does not contain (production takes
  secrets by reference) is filled with a strong random value per key.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent import futures
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import k8s

VENV_BIN = Path(sys.executable).parent
#: Env vars naming infrastructure outside the release, replaced by test instances.
INFRA_ENV = ("DATABASE_URL", "NATS_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT")
START_TIMEOUT_SECS = 60.0
STEP_TIMEOUT_SECS = 120.0


class OtlpSink:
    """A gRPC server that accepts any unary call with an empty reply.

    An empty message is a valid OTLP ``Export*ServiceResponse``, so services
    told to export traces here run as they would against a collector, without
    export errors or slow flushes at shutdown. ``calls`` counts the exports.
    """

    def __init__(self) -> None:
        self.calls = 0
        sink = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                def accept(request: bytes, context: grpc.ServicerContext) -> bytes:
                    sink.calls += 1
                    return b""

                return grpc.unary_unary_rpc_method_handler(accept)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self._server.add_generic_rpc_handlers((Handler(),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpSink:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=None)


@cache
def cli_has_migrate(script: str) -> bool:
    """Whether ``<script> --help`` offers a ``migrate`` command."""
    out = subprocess.run([str(VENV_BIN / script), "--help"], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    return bool(re.search(r"\{[^}]*\bmigrate\b[^}]*\}", out.stdout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pod:
    """One Deployment, run as one local process."""

    workload: k8s.Obj
    #: port name -> rendered containerPort
    ports: dict[str, int]
    #: rendered containerPort -> local port
    local: dict[int, int]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return str(self.workload["metadata"]["name"])

    def local_port(self, port: str | int) -> int:
        return self.local[self.ports[port] if isinstance(port, str) else port]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class LocalCluster:
    render: k8s.Render
    workdir: Path
    infra: dict[str, str]
    pods: dict[str, Pod] = field(default_factory=dict)
    #: Values invented for Secrets the render references but does not hold.
    invented: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for d in self.render.deployments:
            ports = {p["name"]: p["containerPort"] for p in k8s.main_container(d)["ports"]}
            pod = Pod(d, ports, {p: free_port() for p in ports.values()},
                      self.workdir / f"{d['metadata']['name']}.log")  # fmt: skip
            self.pods[pod.name] = pod

    # -- environment ---------------------------------------------------------
    def _secret(self, name: str, key: str) -> str:
        value = self.render.secret_value(name, key)
        if value is None:
            value = self.invented.setdefault((name, key), secrets.token_urlsafe(36))
        return value

    def _configmap(self, name: str, key: str) -> str:
        value = self.render.configmap_value(name, key)
        if value is None:
            raise AssertionError(f"{self.render.name}: ConfigMap {name} has no key {key}")
        return value

    def _from_sources(self, container: k8s.Obj) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                cm = self.render.get("ConfigMap", src["configMapRef"]["name"])
                assert cm is not None, f"envFrom: no ConfigMap {src['configMapRef']['name']}"
                env.update(cm.get("data", {}))
            else:
                ref = src["secretRef"]["name"]
                secret = self.render.get("Secret", ref)
                assert secret is not None, f"envFrom: no Secret {ref} in the render"
                env.update({k: self._secret(ref, k) for k in secret.get("data", {})})
        for var in container.get("env", []):
            env[var["name"]] = self._value(var)
        return env

    def _value(self, var: k8s.Obj) -> str:
        if "value" in var:
            return str(var["value"])
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            return self._secret(source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return self._configmap(ref["name"], ref["key"])
        raise AssertionError(f"unsupported env source {source}")

    def _service_address(self, svc_name: str, port: int) -> str:
        svc = self.render.get("Service", svc_name)
        assert svc is not None
        (svc_port,) = [p for p in svc["spec"]["ports"] if p["port"] == port] or [None]
        assert svc_port is not None, f"Service {svc_name} has no port {port}"
        (pod,) = [
            p for p in self.pods.values()
            if svc["spec"]["selector"].items() <= k8s.pod_labels(p.workload).items()
        ]  # fmt: skip
        return f"127.0.0.1:{pod.local_port(svc_port['targetPort'])}"

    def _rewrite_addresses(self, value: str) -> str:
        for svc in self.render.of_kind("Service"):
            name = re.escape(svc["metadata"]["name"])
            pattern = rf"(?<![\w.-]){name}(?:\.[a-z0-9-]+)*:(\d+)\b"
            value = re.sub(pattern, lambda m, s=svc: self._service_address(
                s["metadata"]["name"], int(m.group(1))), value)  # fmt: skip
        return value

    def env_for(self, container: k8s.Obj, pod: Pod | None) -> dict[str, str]:
        """The container's environment with ports, Services and infrastructure made local."""
        env = self._from_sources(container)
        if pod is not None:
            carried = set()
            for key, value in env.items():
                if value.isdigit() and int(value) in pod.local:
                    env[key] = str(pod.local[int(value)])
                    carried.add(int(value))
            missing = set(pod.local) - carried
            assert not missing, (
                f"{pod.name}: container port(s) {sorted(missing)} are not set through any env "
                "var; the service would listen on its own default instead"
            )
        env = {k: self._rewrite_addresses(v) for k, v in env.items()}
        for key in INFRA_ENV:
            if key in env:
                assert key in self.infra, f"{container['name']}: no local {key} for this test"
                env[key] = self.infra[key]
        return env

    def _process_env(self, env: dict[str, str], name: str) -> dict[str, str]:
        tmp = self.workdir / "tmp" / name
        tmp.mkdir(parents=True, exist_ok=True)
        # Like a container: nothing of the test runner's environment but PATH.
        base = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(tmp), "TMPDIR": str(tmp), "LANG": "C.UTF-8"}  # fmt: skip
        return {**base, **env}

    @staticmethod
    def argv(container: k8s.Obj) -> list[str]:
        command = list(container["command"])
        exe = VENV_BIN / command[0]
        assert exe.exists(), f"{command[0]} is not installed in {VENV_BIN}"
        return [str(exe), *command[1:], *container.get("args", [])]

    # -- lifecycle -----------------------------------------------------------
    def run_step(self, container: k8s.Obj, env: dict[str, str], label: str) -> None:
        out = subprocess.run(
            self.argv(container),
            env=self._process_env(env, label),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECS,
            check=False,
        )
        assert out.returncode == 0, (
            f"{label} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )

    def migrate(self) -> list[str]:
        """Helm hook Jobs (by weight), then every Deployment's init containers; returns their names."""
        done = []
        for job in self.render.hook_jobs():
            for c in k8s.all_containers(job):
                self.run_step(c, self.env_for(c, None), f"{job['metadata']['name']}/{c['name']}")
                done.append(job["metadata"]["name"])
        for pod in self.pods.values():
            for c in k8s.pod_spec(pod.workload).get("initContainers", []):
                self.run_step(c, self.env_for(c, None), f"{pod.name}/{c['name']}")
                done.append(f"{pod.name}/{c['name']}")
        return done

    def start(self) -> None:
        for pod in self.pods.values():
            c = k8s.main_container(pod.workload)
            env = self._process_env(self.env_for(c, pod), pod.name)
            with pod.log.open("wb") as log:
                pod.proc = subprocess.Popen(self.argv(c), env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def wait_probes(self) -> dict[str, dict[str, int]]:
        """Poll startup, then readiness and liveness, on every pod; returns the status codes."""
        deadline = time.monotonic() + START_TIMEOUT_SECS
        seen: dict[str, dict[str, int]] = {}
        with httpx.Client(timeout=5) as client:
            for pod in self.pods.values():
                c = k8s.main_container(pod.workload)
                seen[pod.name] = {}
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    probe = c[kind]["httpGet"]
                    url = f"http://127.0.0.1:{pod.local_port(probe['port'])}{probe['path']}"
                    seen[pod.name][kind] = self._poll(client, pod, url, deadline)
        return seen

    def _poll(self, client: httpx.Client, pod: Pod, url: str, deadline: float) -> int:
        status = 0
        while time.monotonic() < deadline:
            assert pod.proc is not None
            if pod.proc.poll() is not None:
                raise AssertionError(
                    f"{pod.name} exited ({pod.proc.returncode}):\n{pod.log_tail()}"
                )
            try:
                status = client.get(url).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                return status
            if status in (404, 405):  # the path does not exist: no point waiting
                break
            time.sleep(0.2)
        raise AssertionError(f"{pod.name}: GET {url} -> {status}:\n{pod.log_tail()}")

    def grpc_health(self) -> dict[str, str]:
        """grpc.health.v1 Check on every Service port that speaks gRPC (appProtocol h2c)."""
        seen = {}
        for svc in self.render.of_kind("Service"):
            for port in svc["spec"]["ports"]:
                if port.get("appProtocol") != "kubernetes.io/h2c":
                    continue
                address = self._service_address(svc["metadata"]["name"], port["port"])
                with grpc.insecure_channel(address) as channel:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=""), timeout=10
                    )
                seen[f"{svc['metadata']['name']}:{port['name']}"] = (
                    health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                )
        return seen

    def scrape_monitors(self) -> dict[str, int]:
        """GET every ServiceMonitor endpoint; returns the number of spooled_ samples."""
        seen = {}
        for sm in self.render.of_kind("ServiceMonitor"):
            labels = sm["spec"]["selector"]["matchLabels"]
            (svc,) = [s for s in self.render.of_kind("Service")
                      if labels.items() <= s["metadata"]["labels"].items()]  # fmt: skip
            for ep in sm["spec"]["endpoints"]:
                (port,) = [p for p in svc["spec"]["ports"] if p["name"] == ep["port"]]
                address = self._service_address(svc["metadata"]["name"], port["port"])
                r = httpx.get(f"http://{address}{ep.get('path', '/metrics')}", timeout=10)
                assert r.status_code == 200, (sm["metadata"]["name"], r.status_code)
                assert r.headers["content-type"].startswith("text/plain")
                seen[sm["metadata"]["name"]] = sum(
                    1 for line in r.text.splitlines() if line.startswith("spooled_")
                )
        return seen

    def stop(self) -> dict[str, tuple[int | None, float]]:
        """SIGTERM every pod at once; returns (exit code, seconds to exit) per pod."""
        started = time.monotonic()
        for pod in self.pods.values():
            if pod.proc is not None and pod.proc.poll() is None:
                pod.proc.send_signal(signal.SIGTERM)
        result = {}
        for pod in self.pods.values():
            if pod.proc is None:
                continue
            spec = k8s.pod_spec(pod.workload)
            try:
                pod.proc.wait(timeout=spec["terminationGracePeriodSeconds"])
            except subprocess.TimeoutExpired:
                os.killpg(pod.proc.pid, signal.SIGKILL)
                pod.proc.wait()
                result[pod.name] = (None, time.monotonic() - started)
                continue
            result[pod.name] = (pod.proc.returncode, time.monotonic() - started)
        return result

    def kill(self) -> None:
        for pod in self.pods.values():
            if pod.proc is not None and pod.proc.poll() is None:
                os.killpg(pod.proc.pid, signal.SIGKILL)
                pod.proc.wait()
