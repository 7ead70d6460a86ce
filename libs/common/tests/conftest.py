from __future__ import annotations

pytest_plugins = ["spooled_testing.fixtures"]
