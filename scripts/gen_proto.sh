#!/usr/bin/env bash
# Regenerates the Python stubs in libs/proto from proto/. The virtual include
# path "spooled_proto=proto" makes generated imports read
# `from spooled_proto.spooled.v1 import ...`, so our modules never collide with
# the official SDK's top-level `spooled` package in the same environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${SPOOLED_PROTO_OUT:-libs/proto/src}
export PATH="$(dirname "$PY"):$PATH"
GP=$("$PY" -c "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))")
rm -rf "$OUT/spooled_proto/spooled"
files=$(cd proto && find . -name '*.proto' | sed 's|^\./|spooled_proto/|' | sort)
"$PY" -m grpc_tools.protoc -Ispooled_proto=proto -I"$GP" \
  --python_out="$OUT" --grpc_python_out="$OUT" --mypy_out="$OUT" $files
# Make every generated folder an importable package.
find "$OUT/spooled_proto/spooled" -type d -exec touch {}/__init__.py \;
echo "generated: $(find "$OUT/spooled_proto/spooled" -name '*_pb2*.py' | wc -l) modules"
