// Queues: every queue with its counts and pause/resume; one queue's stats,
// configuration and waiting jobs, whose priority can be boosted.

import { api } from "../api.js";
import * as live from "../live.js";
import {
  badge,
  button,
  card,
  clear,
  confirmDialog,
  debounce,
  h,
  jobLink,
  ms,
  num,
  stat,
  table,
  time,
  toast,
} from "../ui.js";

export async function render(root, params) {
  return params.length ? detail(root, params[0]) : list(root);
}

async function setPaused(name, pause) {
  if (pause) {
    const ok = await confirmDialog(
      `Pause queue ${name}?`,
      "Workers stop receiving its jobs until it is resumed. Jobs already running finish.",
      { confirm: "Pause queue", danger: true }
    );
    if (!ok) return false;
    await api("POST", `/queues/${encodeURIComponent(name)}/pause`, { body: { reason: "paused from the console" } });
    toast(`Queue ${name} paused`);
  } else {
    await api("POST", `/queues/${encodeURIComponent(name)}/resume`);
    toast(`Queue ${name} resumed`);
  }
  return true;
}

function pauseButton(q, after) {
  return q.paused
    ? button("Resume", async () => (await setPaused(q.name, false)) && after(), { testid: `resume-${q.name}` })
    : button("Pause", async () => (await setPaused(q.name, true)) && after(), {
        kind: "warn",
        testid: `pause-${q.name}`,
      });
}

async function list(root) {
  const body = h("div");
  clear(root, h("div.page-head", h("h1", "Queues"), h("p.muted", "Queues exist once a job or a configuration names them.")), card(null, body));
  async function load() {
    const d = await api("GET", "/dashboard", { query: { queue_limit: 100, throughput_minutes: 1 } });
    clear(
      body,
      table(
        [
          { label: "Queue", cell: (q) => h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name) },
          { label: "State", cell: (q) => badge(q.paused ? "paused" : "active") },
          { label: "Pending", cell: (q) => num(q.pending), cls: "num" },
          { label: "Scheduled", cell: (q) => num(q.scheduled), cls: "num" },
          { label: "Running", cell: (q) => num(q.processing), cls: "num" },
          { label: "Done 24h", cell: (q) => num(q.completed_24h), cls: "num" },
          { label: "Failed 24h", cell: (q) => num(q.failed_24h), cls: "num" },
          { label: "DLQ", cell: (q) => num(q.deadletter), cls: "num" },
          { label: "", cell: (q) => pauseButton(q, load), cls: "actions" },
        ],
        d.queues,
        { key: (q) => q.name, testid: "queues", empty: "No queues yet." }
      )
    );
  }
  const reload = debounce(() => load().catch(() => {}), 1500);
  const off = live.on((ev) => ev.job_id && reload());
  await load();
  return off;
}

async function detail(root, name) {
  const q = encodeURIComponent(name);
  const head = h("div.page-head");
  const stats = h("div.stats");
  const config = h("div");
  const waiting = h("div");
  clear(root, head, stats, h("div.cols", card("Waiting jobs (next in line first)", waiting), card("Configuration", config)));

  async function load() {
    const [s, cfg, jobs] = await Promise.all([
      api("GET", `/queues/${q}/stats`),
      api("GET", `/queues/${q}`).catch(() => null),
      api("GET", "/jobs", { query: { queue_name: name, status: "pending,scheduled", order_by: "priority", order_dir: "desc", limit: 25 } }),
    ]);
    clear(
      head,
      h("h1", h("a.crumb", { href: "#/queues" }, "Queues"), " / ", name, " ", badge(s.paused ? "paused" : "active")),
      h("div.head-actions", pauseButton({ name, paused: s.paused }, load), h("a.btn", { href: `#/jobs?queue=${q}` }, "All jobs"))
    );
    clear(
      stats,
      stat("Pending", num(s.pending_jobs), { testid: "queue-pending" }),
      stat("Scheduled", num(s.scheduled_jobs)),
      stat("Running", num(s.processing_jobs), { tone: "info" }),
      stat("Done 24h", num(s.completed_jobs_24h), { tone: "ok" }),
      stat("Failed 24h", num(s.failed_jobs_24h), { tone: s.failed_jobs_24h ? "bad" : "" }),
      stat("Avg run time", ms(s.avg_processing_time_ms)),
      stat("Oldest waiting", s.max_job_age_seconds ? `${num(s.max_job_age_seconds)} s` : "—"),
      stat("Workers", num(s.active_workers), { tone: s.active_workers ? "" : "warn" })
    );
    clear(
      config,
      cfg
        ? h(
            "dl.kv",
            h("dt", "Max retries"), h("dd", String(cfg.max_retries)),
            h("dt", "Default timeout"), h("dd", `${cfg.default_timeout} s`),
            h("dt", "Rate limit"), h("dd", cfg.rate_limit ? `${cfg.rate_limit}/s` : "none"),
            h("dt", "Paused reason"), h("dd", (cfg.settings && cfg.settings.paused_reason) || "—"),
            h("dt", "Updated"), h("dd", time(cfg.updated_at))
          )
        : h("p.muted", "Defaults (no configuration saved for this queue).")
    );
    clear(
      waiting,
      table(
        [
          { label: "Job", cell: (j) => jobLink(j.id) },
          { label: "Status", cell: (j) => badge(j.status) },
          { label: "Priority", cell: (j) => h("span.mono", { "data-testid": "priority" }, String(j.priority)), cls: "num" },
          { label: "Created", cell: (j) => time(j.created_at) },
          { label: "Boost", cell: (j) => boostForm(j, load), cls: "actions" },
        ],
        jobs,
        { testid: "waiting-jobs", empty: "Nothing waiting." }
      )
    );
  }
  const reload = debounce(() => load().catch(() => {}), 1000);
  const off = live.on((ev) => ev.queue_name === name && reload());
  await load();
  return off;
}

/** Priority input + Boost: PUT /jobs/{id}/priority (pending/scheduled jobs only). */
export function boostForm(job, after) {
  const input = h("input.prio", {
    type: "number",
    min: -100,
    max: 100,
    value: Math.min(100, (job.priority || 0) + 10),
    "aria-label": "New priority",
    "data-testid": "boost-priority",
  });
  return h(
    "span.inline",
    input,
    button("Boost", async () => {
      const r = await api("PUT", `/jobs/${encodeURIComponent(job.id)}/priority`, { body: { priority: Number(input.value) } });
      toast(`Priority ${r.old_priority} → ${r.new_priority}`);
      await after();
    }, { testid: "boost" })
  );
}
