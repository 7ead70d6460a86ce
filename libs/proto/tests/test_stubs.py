"""The committed stubs match proto/, and our public contract is wire-compatible
with the one the official SDK ships (same services, methods, messages, field
numbers and types). Descriptors are compared in subprocesses because both
modules register `spooled.v1` in the default descriptor pool."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_DUMP = r"""
import importlib, json, sys
mod = importlib.import_module(sys.argv[1])
fd = mod.DESCRIPTOR
out = {"package": fd.package, "services": {}, "messages": {}, "enums": {}}
for s in fd.services_by_name.values():
    out["services"][s.name] = {
        m.name: [m.input_type.full_name, m.output_type.full_name,
                 m.client_streaming if hasattr(m, "client_streaming") else None,
                 m.server_streaming if hasattr(m, "server_streaming") else None]
        for m in s.methods}
def walk(msg):
    out["messages"][msg.full_name] = sorted(
        [f.name, f.number, f.type, f.is_repeated if hasattr(f, "is_repeated") else f.label,
         f.message_type.full_name if f.message_type else None,
         f.containing_oneof.name if f.containing_oneof else None]
        for f in msg.fields)
    for n in msg.nested_types:
        walk(n)
for m in fd.message_types_by_name.values():
    walk(m)
for e in fd.enum_types_by_name.values():
    out["enums"][e.full_name] = sorted([v.name, v.number] for v in e.values)
print(json.dumps(out))
"""


def _dump(module: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _DUMP, module], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


#: Where spooled==1.6.0 keeps its generated stubs. Never imported here: its
#: package __init__ loads them into this process's descriptor pool.
SDK_STUBS = "spooled.grpc.stubs.spooled_pb2"


def test_public_contract_is_wire_compatible_with_the_official_sdk() -> None:
    ours, theirs = _dump("spooled_proto.spooled.v1.spooled_pb2"), _dump(SDK_STUBS)
    assert ours["package"] == theirs["package"] == "spooled.v1"
    assert ours["services"] == theirs["services"]
    assert ours["enums"] == theirs["enums"]
    # Every message and field the SDK knows, we have with the same number and type.
    for name, fields in theirs["messages"].items():  # type: ignore[union-attr]
        assert ours["messages"].get(name) == fields, name  # type: ignore[union-attr]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    gen.mkdir()
    # Generate into a scratch folder and compare file by file.
    env = {**os.environ, "PYTHON": sys.executable, "SPOOLED_PROTO_OUT": str(gen)}
    subprocess.run(
        [str(ROOT / "scripts" / "gen_proto.sh")], check=True, cwd=ROOT, env=env, capture_output=True
    )
    committed = ROOT / "libs/proto/src/spooled_proto/spooled"
    fresh = gen / "spooled_proto/spooled"
    stale = []
    for path in fresh.rglob("*.py*"):
        rel = path.relative_to(fresh)
        if not (committed / rel).exists() or not filecmp.cmp(path, committed / rel, shallow=False):
            stale.append(str(rel))
    assert not stale, f"stubs out of date, run `make proto`: {stale}"
