// Schedules: cron, timezone, next fire time (counting down), last run;
// pause/resume/trigger; one schedule's definition and run history.

import { api } from "../api.js";
import { badge, button, card, clear, h, jobLink, json, num, table, time, toast, when } from "../ui.js";

export async function render(root, params) {
  return params.length ? detail(root, params[0]) : list(root);
}

function controls(s, after) {
  const id = encodeURIComponent(s.id);
  return h(
    "span.inline",
    s.is_active
      ? button("Pause", async () => {
          await api("POST", `/schedules/${id}/pause`);
          toast(`Schedule ${s.name} paused`);
          await after();
        }, { kind: "warn", testid: "schedule-pause" })
      : button("Resume", async () => {
          await api("POST", `/schedules/${id}/resume`);
          toast(`Schedule ${s.name} resumed`);
          await after();
        }, { testid: "schedule-resume" }),
    button("Run now", async () => {
      const r = await api("POST", `/schedules/${id}/trigger`);
      toast(`Triggered: job ${r.job_id}`);
      await after();
    }, { testid: "schedule-trigger" })
  );
}

async function list(root) {
  const body = h("div");
  clear(root, h("div.page-head", h("h1", "Schedules"), h("p.muted", "Cron schedules (seconds field first) in their own time zone.")), card(null, body));
  async function load() {
    const schedules = await api("GET", "/schedules", { query: { limit: 500 } });
    clear(
      body,
      table(
        [
          { label: "Name", cell: (s) => h("a", { href: `#/schedules/${encodeURIComponent(s.id)}` }, s.name) },
          { label: "Cron", cell: (s) => h("code", s.cron_expression) },
          { label: "Zone", cell: (s) => s.timezone },
          { label: "Queue", cell: (s) => s.queue_name },
          { label: "State", cell: (s) => badge(s.is_active ? "active" : "paused") },
          { label: "Next fire", cell: (s) => (s.is_active && s.next_run_at ? [time(s.next_run_at), h("div.muted.small", when(s.next_run_at))] : "—") },
          { label: "Last run", cell: (s) => time(s.last_run_at) },
          { label: "Runs", cell: (s) => num(s.run_count), cls: "num" },
          { label: "", cell: (s) => controls(s, load), cls: "actions" },
        ],
        schedules,
        { testid: "schedules", empty: "No schedules yet (POST /api/v1/schedules or spooledctl schedules create)." }
      )
    );
  }
  const timer = setInterval(() => load().catch(() => {}), 15000);
  await load();
  return () => clearInterval(timer);
}

async function detail(root, scheduleId) {
  const id = encodeURIComponent(scheduleId);
  async function load() {
    const [s, runs] = await Promise.all([api("GET", `/schedules/${id}`), api("GET", `/schedules/${id}/history`, { query: { limit: 100 } })]);
    clear(
      root,
      h("div.page-head", h("h1", h("a.crumb", { href: "#/schedules" }, "Schedules"), " / ", s.name, " ", badge(s.is_active ? "active" : "paused")), controls(s, load)),
      h(
        "div.cols",
        card(
          "Definition",
          h(
            "dl.kv",
            h("dt", "Cron"), h("dd", h("code", s.cron_expression)),
            h("dt", "Time zone"), h("dd", s.timezone),
            h("dt", "Queue"), h("dd", h("a", { href: `#/queues/${encodeURIComponent(s.queue_name)}` }, s.queue_name)),
            h("dt", "Next fire"), h("dd", s.is_active && s.next_run_at ? [when(s.next_run_at), " (", time(s.next_run_at), ")"] : "paused"),
            h("dt", "Last run"), h("dd", s.last_run_at ? when(s.last_run_at) : "never"),
            h("dt", "Runs"), h("dd", num(s.run_count)),
            h("dt", "Missed runs"), h("dd", s.missed_run_policy || "—"),
            h("dt", "Overlap"), h("dd", s.overlap_policy || "—"),
            h("dt", "Priority"), h("dd", String(s.priority))
          )
        ),
        card("Payload template", json(s.payload_template))
      ),
      card(
        "Run history",
        table(
          [
            { label: "Fired", cell: (r) => when(r.started_at) },
            { label: "For", cell: (r) => (r.scheduled_for ? when(r.scheduled_for) : "—") },
            { label: "Kind", cell: (r) => r.kind || "—" },
            { label: "Status", cell: (r) => badge(r.status) },
            { label: "Job", cell: (r) => (r.job_id ? jobLink(r.job_id) : "—") },
            { label: "Error", cell: (r) => h("span.err", r.error_message || "") },
          ],
          runs,
          { testid: "schedule-runs", empty: "It has not fired yet." }
        )
      )
    );
  }
  await load();
}
