"""Organizations: plans, usage, lifecycle."""

from __future__ import annotations
