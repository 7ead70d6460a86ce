"""Which metric names exist: what the services export, and what is planned.

Exported names are read from the code, not from a list: every ``metrics.py``
module under services/*/src and libs/*/src is imported (one subprocess per
package, as each service is its own process with its own registry) and its
prometheus_client metrics are listed with their sample names and labels,
together with the process/platform collectors every service exports.

Custom collectors, whose series only exist once they have read their source,
declare theirs in a ``FAMILIES`` attribute (name, kind, labels), which counts
as exported.

PLANNED names are used by the dashboards and alert rules ahead of the code.
Tests mark them xfail(strict=True): when one starts being exported the test
XPASSes and fails, so it must leave this list.
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
#: where upstream has one. Empty: every name the dashboards and rules use is
#: exported.
PLANNED: dict[str, tuple[frozenset[str], str]] = {}

_LIST_METRICS = r"""
import importlib, json, sys
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "enum": ("",)}
found = {}
def add(name, kind, labels):
    for suffix in SUFFIXES.get(kind, ("",)):
        extra = ["le"] if suffix == "_bucket" else []
        found[name + suffix] = sorted(list(labels) + extra)

for module in sys.argv[1:]:
    for obj in vars(importlib.import_module(module)).values():
        if isinstance(obj, MetricWrapperBase):
            add(obj._name, obj._type, obj._labelnames)
        # Custom collectors (gauges read from a database at scrape time) have
        # no samples until they run; they declare what they export instead.
        for family in getattr(obj, "FAMILIES", ()):
            add(family.name, family.kind, family.labels)
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
