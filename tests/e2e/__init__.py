"""End-to-end tests: the official SDK against the running suite."""

from __future__ import annotations

import os

# Like tests/chaos: this process forks (pg_ctl, service restarts) while SDK gRPC clients
# are busy on other threads, and gRPC's fork handlers now and then crash the child
# between fork and exec. We only fork to exec, so they are not needed; this runs
# before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
