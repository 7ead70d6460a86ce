"""Cron: expressions (:mod:`.expression`) and their firing instants in a time zone (:mod:`.schedule`)."""

from __future__ import annotations

from spooled_scheduler.cron.expression import CronError, CronExpression
from spooled_scheduler.cron.schedule import CronSchedule, TimezoneError, parse_timezone

__all__ = ["CronError", "CronExpression", "CronSchedule", "TimezoneError", "parse_timezone"]
