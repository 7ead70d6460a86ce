"""Render the deployment artefacts with the real tools and read the objects back.

The Helm chart and both Kustomize overlays are rendered once per session
(conftest.py); tests get :class:`Render` objects: the parsed documents plus a
few lookups (the Service of a Deployment, the pods a selector picks, ...).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "spooled"
KUSTOMIZE = ROOT / "deploy" / "kustomize"
TOOLS_SCRIPT = ROOT / "scripts" / "deploy_tools.sh"
TOOLS_BIN = ROOT / ".dev" / "tools" / "bin"
#: Release name used for every Helm render.
RELEASE = "spooled"
HOOK = "helm.sh/hook"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Tools:
    helm: Path
    #: Helm 3 (the chart must work with both majors).
    helm3: Path
    kubectl: Path

    def run(self, tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run helm, helm3 or kubectl; the result carries returncode, stdout, stderr."""
        binary = {"helm": self.helm, "helm3": self.helm3, "kubectl": self.kubectl}[tool]
        # Helm keeps caches and repository config under HOME/XDG dirs: keep
        # them out of the developer's home and away from any real cluster.
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(ROOT / ".dev" / "tools" / "helm-cache"),
            "HELM_CONFIG_HOME": str(ROOT / ".dev" / "tools" / "helm-config"),
            "HELM_DATA_HOME": str(ROOT / ".dev" / "tools" / "helm-data"),
            "KUBECONFIG": os.devnull,
        }
        return subprocess.run(
            [str(binary), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )


def install_tools() -> Tools:
    """helm, helm3, kubectl from $SPOOLED_HELM/_HELM3/_KUBECTL, else .dev/tools (installed on demand)."""
    helm = Path(os.environ.get("SPOOLED_HELM", TOOLS_BIN / "helm"))
    helm3 = Path(os.environ.get("SPOOLED_HELM3", TOOLS_BIN / "helm3"))
    kubectl = Path(os.environ.get("SPOOLED_KUBECTL", TOOLS_BIN / "kubectl"))
    if not (helm.exists() and helm3.exists() and kubectl.exists()):
        out = subprocess.run(
            ["bash", str(TOOLS_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "DEPLOY_TOOLS_PROMTOOL": "0"},
        )
        if out.returncode != 0:
            raise RuntimeError(f"{TOOLS_SCRIPT} failed:\n{out.stdout}\n{out.stderr}")
    for binary in (helm, helm3, kubectl):
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"{binary} is missing or not executable")
    return Tools(helm=helm, helm3=helm3, kubectl=kubectl)


@dataclass
class Render:
    """The objects one `helm template` or `kubectl kustomize` produced."""

    name: str
    docs: list[Obj]
    #: Whether this render comes from Helm (hooks) or Kustomize (init containers).
    helm: bool
    stderr: str = ""
    _by_key: dict[tuple[str, str], Obj] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for doc in self.docs:
            self._by_key[(doc["kind"], doc["metadata"]["name"])] = doc

    def of_kind(self, kind: str) -> list[Obj]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj | None:
        return self._by_key.get((kind, name))

    @property
    def deployments(self) -> list[Obj]:
        return self.of_kind("Deployment")

    def hook_jobs(self) -> list[Obj]:
        jobs = [j for j in self.of_kind("Job") if HOOK in j["metadata"].get("annotations", {})]
        return sorted(jobs, key=_hook_weight)

    def pods_selected(self, selector: dict[str, str]) -> list[Obj]:
        """Deployments and Jobs whose pod template carries every label of ``selector``."""
        found = []
        for doc in self.of_kind("Deployment") + self.of_kind("Job"):
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            if selector.items() <= labels.items():
                found.append(doc)
        return found

    def services_of(self, deployment: Obj) -> list[Obj]:
        labels = pod_labels(deployment)
        return [
            s for s in self.of_kind("Service") if s["spec"]["selector"].items() <= labels.items()
        ]

    def secret_value(self, name: str, key: str) -> str | None:
        secret = self.get("Secret", name)
        if secret is None:
            return None
        if key in secret.get("stringData", {}):
            return str(secret["stringData"][key])
        raw = secret.get("data", {}).get(key)
        return None if raw is None else base64.b64decode(raw).decode()

    def configmap_value(self, name: str, key: str) -> str | None:
        cm = self.get("ConfigMap", name)
        return None if cm is None else cm.get("data", {}).get(key)


def _hook_weight(job: Obj) -> int:
    return int(job["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))


def parse(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


def pod_labels(workload: Obj) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"].get("labels", {}))


def pod_spec(workload: Obj) -> Obj:
    return dict(workload["spec"]["template"]["spec"])


def main_container(workload: Obj) -> Obj:
    return dict(pod_spec(workload)["containers"][0])


def all_containers(workload: Obj) -> Iterator[Obj]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def component(workload: Obj) -> str:
    return str(workload["metadata"]["labels"]["app.kubernetes.io/component"])


def helm_template(tools: Tools, name: str, *values: Path, sets: tuple[str, ...] = ()) -> Render:
    args: list[str | Path] = ["template", RELEASE, CHART, "--namespace", "spooled"]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    out = tools.run("helm", *args)
    if out.returncode != 0:
        raise AssertionError(f"helm template ({name}) failed:\n{out.stderr}")
    return Render(name, parse(out.stdout), helm=True, stderr=out.stderr)


def kustomize(tools: Tools, overlay: str) -> Render:
    out = tools.run("kubectl", "kustomize", KUSTOMIZE / "overlays" / overlay)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay} failed:\n{out.stderr}")
    return Render(f"kustomize-{overlay}", parse(out.stdout), helm=False, stderr=out.stderr)
