"""Spooled scheduler: cron schedules (schema ``scheduler``) fired exactly once across replicas."""

from __future__ import annotations
