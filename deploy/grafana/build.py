"""Write the Grafana dashboards of this folder (spooled-*.json) from one description.

Run ``python deploy/grafana/build.py`` after editing; tests/deploy checks that the
JSON files are what this script writes, that every query parses as PromQL, and
that every metric exists (or is listed as planned) in what the services export.

Every query filters on ``namespace="$namespace"`` and on the ``spooled_component``
target label, which the chart's ServiceMonitors set (deploy/README.md).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NS = 'namespace="$namespace"'
RATE = "$__rate_interval"
#: Grid width of a Grafana dashboard.
WIDTH = 24


@dataclass
class Panel:
    title: str
    #: (legend, PromQL) pairs.
    queries: list[tuple[str, str]]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    description: str = ""
    #: Grafana's stacking of the series (timeseries only).
    stacked: bool = False
    thresholds: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Row:
    title: str
    panels: list[Panel]


def _datasource() -> dict[str, str]:
    return {"type": "prometheus", "uid": "${datasource}"}


def _thresholds(steps: list[tuple[float, str]]) -> dict[str, Any]:
    base = [{"color": "green", "value": None}]
    return {"mode": "absolute", "steps": base + [{"color": c, "value": v} for v, c in steps]}


def _panel_json(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": _datasource(),
            "expr": expr,
            "legendFormat": legend,
            "range": True,
        }
        for i, (legend, expr) in enumerate(panel.queries)
    ]
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": _thresholds(panel.thresholds)}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
        }
        options: dict[str, Any] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        defaults["color"] = {"mode": "thresholds"}
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        }
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": _datasource(),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }


def _layout(rows: list[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in rows:
        out.append(
            {
                "id": pid,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        pid, y = pid + 1, y + 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y, row_height = 0, y + row_height, 0
            out.append(_panel_json(panel, pid, x, y))
            pid, x, row_height = pid + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return out


def _variables(extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }
    namespace = {
        "name": "namespace",
        "label": "Namespace",
        "type": "query",
        "datasource": _datasource(),
        "query": {
            "query": 'label_values(up{spooled_component!=""}, namespace)',
            "refId": "namespace",
        },
        "definition": 'label_values(up{spooled_component!=""}, namespace)',
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "includeAll": False,
        "multi": False,
    }
    return [datasource, namespace, *extra]


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[Row],
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["spooled"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "version": 1,
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["spooled"],
                "asDropdown": True,
                "title": "Spooled dashboards",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": _variables(variables or [])},
        "panels": _layout(rows),
    }


def _rate(metric: str, by: str = "", extra: str = "") -> str:
    sel = f"{metric}{{{NS}{extra}}}"
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({sel}[{RATE}]))"


def _db_gauge(metric: str, by: str = "queue", extra: str = "") -> str:
    """A gauge queue-core reads from the database: every replica reports the same
    value, so replicas are combined with max, never sum."""
    group = f" by ({by})" if by else ""
    return f"max{group} ({metric}{{{NS}{extra}}})"


#: What the per-queue gauge panels say about their series.
DB_GAUGE_NOTE = (
    "Read from the database by queue-core at scrape time (every replica reports the same "
    "value). Summed over organizations per queue name; queues past "
    'QUEUE_CORE_METRICS_MAX_QUEUES (by depth) are summed into queue="_other".'
)


def _quantile(q: float, bucket: str, by: str = "", extra: str = "") -> str:
    group = ", ".join(x for x in ("le", by) if x)
    return f"histogram_quantile({q}, sum by ({group}) (rate({bucket}{{{NS}{extra}}}[{RATE}])))"


def overview() -> dict[str, Any]:
    health = Row(
        "Health",
        [
            Panel(
                "Replicas up",
                [
                    (
                        "{{spooled_component}}",
                        f'sum by (spooled_component) (up{{{NS}, spooled_component!=""}})',
                    )
                ],
                kind="stat",
                width=8,
                height=5,
                description="Scrapeable replicas per component (0 fires SpooledServiceDown).",
            ),
            Panel(
                "Scheduler leaders",
                [("leaders", f"sum(spooled_scheduler_is_leader{{{NS}}})")],
                kind="stat",
                width=4,
                height=5,
                thresholds=[(2, "red")],
                description="Exactly 1 is right: 0 means cron schedules are not firing.",
            ),
            Panel(
                "Outbox lag",
                [("lag", f"max(spooled_outbox_lag_seconds{{{NS}}})")],
                unit="s",
                kind="stat",
                width=4,
                height=5,
                thresholds=[(60, "orange"), (600, "red")],
            ),
            Panel(
                "Dead-lettered (15m)",
                [("jobs", f"sum(increase(spooled_jobs_deadlettered_total{{{NS}}}[15m]))")],
                kind="stat",
                width=4,
                height=5,
                thresholds=[(10, "orange"), (100, "red")],
            ),
            Panel(
                "Leases expired (15m)",
                [("leases", f"sum(increase(spooled_leases_expired_total{{{NS}}}[15m]))")],
                kind="stat",
                width=4,
                height=5,
                thresholds=[(1, "orange")],
                description="Jobs whose worker stopped heartbeating; they were re-queued.",
            ),
        ],
    )
    jobs = Row(
        "Jobs",
        [
            Panel(
                "Job throughput",
                [
                    ("enqueued", _rate("spooled_jobs_enqueued_total")),
                    ("claimed", _rate("spooled_jobs_claimed_total")),
                    ("completed", _rate("spooled_jobs_completed_total")),
                    ("failed", _rate("spooled_jobs_failed_total")),
                ],
                unit="ops",
            ),
            Panel(
                "REST requests by status",
                [("{{status}}", _rate("spooled_api_requests_total", "status"))],
                unit="reqps",
                stacked=True,
                description="Served by the gateway; status is the class (2xx, 4xx, 5xx).",
            ),
            Panel(
                "REST latency",
                [
                    ("p50", _quantile(0.5, "spooled_api_request_duration_seconds_bucket")),
                    ("p95", _quantile(0.95, "spooled_api_request_duration_seconds_bucket")),
                ],
                unit="s",
            ),
            Panel(
                "queue-core RPC latency",
                [
                    ("p50", _quantile(0.5, "spooled_queue_core_rpc_duration_seconds_bucket")),
                    ("p95", _quantile(0.95, "spooled_queue_core_rpc_duration_seconds_bucket")),
                    ("p99", _quantile(0.99, "spooled_queue_core_rpc_duration_seconds_bucket")),
                ],
                unit="s",
            ),
        ],
    )
    backlog = Row(
        "Backlog (all queues)",
        [
            Panel(
                "Pending",
                [("jobs", f"sum({_db_gauge('spooled_jobs_pending')})")],
                kind="stat",
                width=5,
                height=5,
            ),
            Panel(
                "Processing",
                [("jobs", f"sum({_db_gauge('spooled_jobs_processing')})")],
                kind="stat",
                width=5,
                height=5,
            ),
            Panel(
                "Dead-letter queue",
                [("jobs", f"sum({_db_gauge('spooled_jobs_deadletter')})")],
                kind="stat",
                width=5,
                height=5,
            ),
            Panel(
                "Oldest pending job",
                [("age", f"max(spooled_job_max_age_seconds{{{NS}}})")],
                unit="s",
                kind="stat",
                width=5,
                height=5,
                thresholds=[(900, "orange"), (3600, "red")],
            ),
            Panel(
                "Healthy workers",
                [("workers", _db_gauge("spooled_workers_healthy", by=""))],
                kind="stat",
                width=4,
                height=5,
            ),
        ],
    )
    resources = Row(
        "Resources",
        [
            Panel(
                "CPU by component",
                [
                    (
                        "{{spooled_component}}",
                        f'sum by (spooled_component) (rate(process_cpu_seconds_total{{{NS}, spooled_component!=""}}[{RATE}]))',
                    )
                ],
                unit="cores",
            ),
            Panel(
                "Memory by component",
                [
                    (
                        "{{spooled_component}}",
                        f'sum by (spooled_component) (process_resident_memory_bytes{{{NS}, spooled_component!=""}})',
                    )
                ],
                unit="bytes",
            ),
        ],
    )
    return dashboard(
        "spooled-overview",
        "Spooled / Overview",
        "Health, throughput and resources of one Spooled installation.",
        [health, backlog, jobs, resources],
    )


def queues() -> dict[str, Any]:
    queue_var = {
        "name": "queue",
        "label": "Queue",
        "type": "query",
        "datasource": _datasource(),
        "query": {"query": f"label_values(spooled_jobs_pending{{{NS}}}, queue)", "refId": "queue"},
        "definition": f"label_values(spooled_jobs_pending{{{NS}}}, queue)",
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
    }
    q = ', queue=~"$queue"'
    backlog = Row(
        "Backlog (per queue)",
        [
            Panel(
                "Pending jobs",
                [("{{queue}}", _db_gauge("spooled_jobs_pending", extra=q))],
                stacked=True,
                description=DB_GAUGE_NOTE,
            ),
            Panel(
                "Oldest pending job",
                [("{{queue}}", _db_gauge("spooled_job_max_age_seconds", extra=q))],
                unit="s",
                thresholds=[(900, "orange"), (3600, "red")],
                description="How long the oldest runnable job has waited for a worker. "
                "SpooledOldestJobAge fires above 15 minutes (warning) and 1 hour.",
            ),
            Panel(
                "Processing jobs",
                [("{{queue}}", _db_gauge("spooled_jobs_processing", extra=q))],
                stacked=True,
                description=DB_GAUGE_NOTE,
            ),
            Panel(
                "Dead-letter queue size",
                [("{{queue}}", _db_gauge("spooled_jobs_deadletter", extra=q))],
                stacked=True,
                description="Jobs whose retries are exhausted, until retried or purged. "
                + DB_GAUGE_NOTE,
            ),
        ],
    )
    timing = Row(
        "Time to start and run (per queue)",
        [
            Panel(
                "Time to start (p95)",
                [("{{queue}}", _quantile(0.95, "spooled_job_wait_seconds_bucket", "queue", q))],
                unit="s",
                description="From a job becoming runnable (enqueued, or due when scheduled or "
                "retrying) to its claim. Rising: too few workers for the queue.",
            ),
            Panel(
                "Job duration (p95)",
                [("{{queue}}", _quantile(0.95, "spooled_job_duration_seconds_bucket", "queue", q))],
                unit="s",
                description="Claim to completion of jobs that completed.",
            ),
            Panel(
                "Completed per queue",
                [("{{queue}}", _rate("spooled_job_duration_seconds_count", "queue", q))],
                unit="ops",
                stacked=True,
            ),
            Panel(
                "Retries per queue",
                [("{{queue}}", _rate("spooled_jobs_retried_total", "queue", q))],
                unit="ops",
                description="Failures that scheduled another attempt.",
            ),
        ],
    )
    outcomes = Row(
        "Outcomes (all queues)",
        [
            Panel(
                "Enqueued vs completed",
                [
                    ("enqueued", _rate("spooled_jobs_enqueued_total")),
                    ("completed", _rate("spooled_jobs_completed_total")),
                ],
                unit="ops",
            ),
            Panel(
                "Failures, retries, dead letters",
                [
                    ("failed", _rate("spooled_jobs_failed_total")),
                    ("retried", _rate("spooled_jobs_retried_total")),
                    ("dead-lettered", _rate("spooled_jobs_deadlettered_total")),
                ],
                unit="ops",
            ),
            Panel(
                "Failure ratio",
                [
                    (
                        "failed / settled",
                        f"{_rate('spooled_jobs_failed_total')} / ({_rate('spooled_jobs_completed_total')}"
                        f" + {_rate('spooled_jobs_failed_total')})",
                    )
                ],
                unit="percentunit",
            ),
            Panel(
                "Dead-lettered per hour",
                [("jobs", f"sum(increase(spooled_jobs_deadlettered_total{{{NS}}}[1h]))")],
            ),
        ],
    )
    return dashboard(
        "spooled-queues",
        "Spooled / Queues",
        "Backlog, age and outcomes of jobs, per queue where the metric has one.",
        [backlog, timing, outcomes],
        [queue_var],
    )


def workers() -> dict[str, Any]:
    claims = ', method=~"ClaimJobs|CompleteJob|FailJob|HeartbeatJob"'
    fleet = Row(
        "Fleet",
        [
            Panel(
                "Workers",
                [
                    ("active", _db_gauge("spooled_workers_active", by="")),
                    ("healthy", _db_gauge("spooled_workers_healthy", by="")),
                ],
                description="Registered workers not offline, and those healthy that "
                "heartbeated within three intervals (read from the database).",
            ),
            Panel(
                "Claims and settlements",
                [
                    ("claimed", _rate("spooled_jobs_claimed_total")),
                    ("completed", _rate("spooled_jobs_completed_total")),
                    ("failed", _rate("spooled_jobs_failed_total")),
                ],
                unit="ops",
            ),
        ],
    )
    leases = Row(
        "Leases and worker RPCs",
        [
            Panel(
                "Leases expired",
                [("expired", _rate("spooled_leases_expired_total"))],
                unit="ops",
                description="A worker stopped heartbeating (crash, OOM, network); its job was re-queued.",
            ),
            Panel(
                "Worker RPC latency (p95)",
                [
                    (
                        "{{method}}",
                        _quantile(
                            0.95, "spooled_queue_core_rpc_duration_seconds_bucket", "method", claims
                        ),
                    )
                ],
                unit="s",
            ),
            Panel(
                "Worker RPC rate",
                [
                    (
                        "{{method}}",
                        _rate("spooled_queue_core_rpc_duration_seconds_count", "method", claims),
                    )
                ],
                unit="reqps",
            ),
        ],
    )
    per_queue = Row(
        "Work per queue",
        [
            Panel(
                "Jobs in flight",
                [("{{queue}}", _db_gauge("spooled_jobs_processing"))],
                stacked=True,
                description=DB_GAUGE_NOTE,
            ),
            Panel(
                "Time to start (p95)",
                [("{{queue}}", _quantile(0.95, "spooled_job_wait_seconds_bucket", "queue"))],
                unit="s",
                description="Jobs wait this long for a worker: scale the workers of a "
                "queue whose line keeps rising.",
            ),
            Panel(
                "Job duration (p50)",
                [("{{queue}}", _quantile(0.5, "spooled_job_duration_seconds_bucket", "queue"))],
                unit="s",
            ),
            Panel(
                "Completed per queue",
                [("{{queue}}", _rate("spooled_job_duration_seconds_count", "queue"))],
                unit="ops",
                stacked=True,
            ),
        ],
    )
    return dashboard(
        "spooled-workers",
        "Spooled / Workers",
        "Worker fleet, claims, settlements and lease expiry.",
        [fleet, per_queue, leases],
    )


def webhooks() -> dict[str, Any]:
    failed = ', outcome="failed"'
    outbox = Row(
        "Event outbox (queue-core -> NATS)",
        [
            Panel(
                "Outbox lag",
                [("lag", f"max(spooled_outbox_lag_seconds{{{NS}}})")],
                unit="s",
                thresholds=[(60, "orange"), (600, "red")],
                description="Age of the oldest event not yet in JetStream: webhooks wait this long.",
            ),
            Panel("Outbox pending", [("events", f"max(spooled_outbox_pending{{{NS}}})")]),
            Panel(
                "Published vs failed",
                [
                    ("published", _rate("spooled_outbox_published_total")),
                    ("failed", _rate("spooled_outbox_publish_failures_total")),
                ],
                unit="ops",
            ),
            Panel(
                "Relay leader",
                [("leaders", f"sum(spooled_outbox_relay_leader{{{NS}}})")],
                kind="stat",
                description="Replicas relaying the outbox: 1 when NATS is configured.",
            ),
        ],
    )
    deliveries = Row(
        "Outgoing webhook deliveries",
        [
            Panel(
                "Deliveries by outcome",
                [("{{outcome}}", _rate("spooled_webhook_deliveries_total", "outcome"))],
                unit="ops",
                stacked=True,
            ),
            Panel(
                "Failure ratio",
                [
                    (
                        "failed",
                        _rate("spooled_webhook_deliveries_total", extra=failed)
                        + " / "
                        + _rate("spooled_webhook_deliveries_total"),
                    )
                ],
                unit="percentunit",
                thresholds=[(0.1, "orange"), (0.5, "red")],
            ),
            Panel(
                "Delivery latency",
                [
                    ("p50", _quantile(0.5, "spooled_webhook_delivery_duration_seconds_bucket")),
                    ("p95", _quantile(0.95, "spooled_webhook_delivery_duration_seconds_bucket")),
                ],
                unit="s",
            ),
        ],
    )
    by_event = Row(
        "Deliveries by event type",
        [
            Panel(
                "Failed attempts by event",
                [("{{event}}", _rate("spooled_webhook_deliveries_total", "event", failed))],
                unit="ops",
                stacked=True,
                description="job.completed and job.failed include the jobs' own completion "
                "webhooks.",
            ),
            Panel(
                "Delivery latency by event (p95)",
                [
                    (
                        "{{event}}",
                        _quantile(
                            0.95, "spooled_webhook_delivery_duration_seconds_bucket", "event"
                        ),
                    )
                ],
                unit="s",
            ),
            Panel(
                "Dead-letter queue size",
                [("{{queue}}", _db_gauge("spooled_jobs_deadletter"))],
                stacked=True,
                description="Each dead-lettered job sends job.failed and job.deadlettered "
                "to subscribed endpoints. " + DB_GAUGE_NOTE,
            ),
        ],
    )
    return dashboard(
        "spooled-webhooks",
        "Spooled / Webhooks",
        "Job events through the outbox to NATS, and outgoing webhook deliveries.",
        [outbox, deliveries, by_event],
    )


DASHBOARDS = {
    "spooled-overview.json": overview,
    "spooled-queues.json": queues,
    "spooled-workers.json": workers,
    "spooled-webhooks.json": webhooks,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    for name, text in render().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
