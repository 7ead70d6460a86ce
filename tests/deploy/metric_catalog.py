"""Which metric names exist: what the services export, and what is planned.

Exported names are read from the code, not from a list: every ``metrics.py``
module under services/*/src and libs/*/src is imported (one subprocess per
package, as each service is its own process with its own registry) and its
prometheus_client metrics are listed with their sample names and labels,
together with the process/platform collectors every service exports.

PLANNED names are used by the dashboards and alert rules ahead of the code
(issue 6 item 2, "Metrics"). Tests mark them xfail(strict=True): when one
starts being exported the test XPASSes and fails, so it must leave this list.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Target labels Prometheus adds to every sample of a Spooled target (the
#: chart's ServiceMonitors add spooled_component; the rest come from
#: prometheus-operator's Kubernetes discovery).
TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "endpoint", "container",
     "spooled_component"}
)  # fmt: skip
#: Series Prometheus makes itself for every target.
SYNTHETIC = {"up": frozenset()}

#: name -> (labels, who will export it). Upstream names (reference API.md §16)
#: where upstream has one.
PLANNED: dict[str, tuple[frozenset[str], str]] = {
    "spooled_jobs_pending": (frozenset({"queue"}), "queue-core, upstream gauge (item 2)"),
    "spooled_jobs_processing": (frozenset({"queue"}), "queue-core, upstream gauge (item 2)"),
    "spooled_job_max_age_seconds": (
        frozenset({"queue"}), "queue-core, upstream gauge: oldest pending job (item 2)"
    ),
    "spooled_job_duration_seconds_bucket": (
        frozenset({"queue", "le"}), "queue-core, upstream histogram (item 2)"
    ),
    "spooled_workers_active": (frozenset(), "queue-core, upstream gauge (item 2)"),
    "spooled_workers_healthy": (frozenset(), "queue-core, upstream gauge (item 2)"),
}  # fmt: skip

_LIST_METRICS = r"""
import importlib, json, sys
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "enum": ("",)}
found = {}
for module in sys.argv[1:]:
    for obj in vars(importlib.import_module(module)).values():
        if isinstance(obj, MetricWrapperBase):
            labels = list(obj._labelnames)
            for suffix in SUFFIXES.get(obj._type, ("",)):
                extra = ["le"] if suffix == "_bucket" else []
                found[obj._name + suffix] = sorted(labels + extra)
for family in REGISTRY.collect():
    for sample in family.samples:
        found.setdefault(sample.name, sorted(sample.labels))
print(json.dumps(found))
"""


def _metrics_modules() -> dict[str, list[str]]:
    """Package -> its metrics modules, for every service and library."""
    found: dict[str, list[str]] = {}
    for src in sorted([*ROOT.glob("services/*/src"), *ROOT.glob("libs/*/src")]):
        for path in sorted(src.rglob("metrics.py")):
            dotted = ".".join(path.relative_to(src).with_suffix("").parts)
            found.setdefault(dotted.split(".")[0], []).append(dotted)
    return found


@cache
def exported() -> dict[str, frozenset[str]]:
    """Sample name -> label names, over every service."""
    names: dict[str, frozenset[str]] = {k: v for k, v in SYNTHETIC.items()}
    for package, modules in _metrics_modules().items():
        out = subprocess.run(
            [sys.executable, "-c", _LIST_METRICS, *modules],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"listing the metrics of {package} failed:\n{out.stderr}")
        for name, labels in json.loads(out.stdout).items():
            names[name] = names.get(name, frozenset()) | frozenset(labels)
    return names
