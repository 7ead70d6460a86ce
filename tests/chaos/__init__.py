"""Fault, lease and soak tests (`make chaos`); see docs/reliability.md."""

from __future__ import annotations

import os

# This process forks to run pg_ctl and to restart services while SDK gRPC clients are busy
# on other threads. gRPC's fork handlers then now and then crash the child between fork and
# exec (seen as a stray "Fatal Python error: Segmentation fault" and a failed pg_ctl). We
# only fork to exec, so the handlers are not needed; this runs before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
