"""Inputs of the worker service."""

from __future__ import annotations

from dataclasses import dataclass

#: Worker statuses; the DB CHECK ``workers_status_valid`` holds the same list.
STATUSES = ("healthy", "degraded", "draining", "offline")


@dataclass(frozen=True, slots=True)
class NewWorker:
    queue_name: str
    hostname: str
    #: A stable id chosen by the worker; None lets the server pick one.
    worker_id: str | None = None
    worker_type: str | None = None
    #: 0 means the default (5); capped at 100.
    max_concurrency: int = 0
    #: JSON text or None.
    metadata: str | None = None
    version: str | None = None
