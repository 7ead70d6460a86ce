// Workflows: list with progress; one workflow as a DAG of its jobs. Where the
// workflows API is not deployed, a job's dependency graph is drawn instead.

import { api, available } from "../api.js";
import { dag } from "../graph.js";
import * as live from "../live.js";
import { badge, button, card, clear, debounce, h, num, table, time, toast } from "../ui.js";

export async function render(root, params) {
  if (!(await available("/workflows"))) return fallback(root);
  return params.length ? detail(root, params[0]) : list(root);
}

function fallback(root) {
  const input = h("input", { placeholder: "job id", "data-testid": "graph-job" });
  const form = h("form.filters", input, h("button.primary", { type: "submit" }, "Show its dependencies"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.value.trim()) location.hash = `#/jobs/${encodeURIComponent(input.value.trim())}`;
  });
  clear(
    root,
    h("div.page-head", h("h1", "Workflows")),
    card(
      null,
      h("p.muted", "The workflows API is not available on this deployment. A job page draws the job's dependency graph (parent_job_id and job dependencies)."),
      form
    )
  );
}

function progressBar(w) {
  const fill = h("div.bar-fill");
  const pct = w.total_jobs ? (100 * w.completed_jobs) / w.total_jobs : 0;
  fill.style.width = `${pct}%`;
  return h("div.load", h("div.bar", fill), h("span.muted", `${w.completed_jobs}/${w.total_jobs}`));
}

async function list(root) {
  const body = h("div");
  clear(root, h("div.page-head", h("h1", "Workflows")), card(null, body));
  async function load() {
    const rows = await api("GET", "/workflows", { query: { limit: 100 } });
    clear(
      body,
      table(
        [
          { label: "Workflow", cell: (w) => h("a", { href: `#/workflows/${encodeURIComponent(w.id)}` }, w.name) },
          { label: "Status", cell: (w) => badge(w.status) },
          { label: "Progress", cell: progressBar },
          { label: "Failed", cell: (w) => num(w.failed_jobs), cls: "num" },
          { label: "Created", cell: (w) => time(w.created_at) },
          { label: "Finished", cell: (w) => time(w.completed_at) },
        ],
        rows,
        { testid: "workflows", empty: "No workflows yet." }
      )
    );
  }
  const reload = debounce(() => load().catch(() => {}), 1500);
  const off = live.on((ev) => ev.job_id && reload());
  await load();
  return off;
}

function jobLabel(j) {
  return j.key || j.workflow_key || (j.metadata && j.metadata.key) || j.id.slice(0, 8);
}

async function detail(root, workflowId) {
  const id = encodeURIComponent(workflowId);
  let ids = new Set();
  async function load() {
    const w = await api("GET", `/workflows/${id}`);
    const jobs = w.jobs || [];
    ids = new Set(jobs.map((j) => j.id));
    const nodes = jobs.map((j) => ({ id: j.id, label: jobLabel(j), sub: j.queue || j.queue_name, status: j.status }));
    const edges = (w.dependencies || []).map((d) => ({ from: d.parent_job_id, to: d.child_job_id }));
    const p = w.progress || {};
    clear(
      root,
      h(
        "div.page-head",
        h("h1", h("a.crumb", { href: "#/workflows" }, "Workflows"), " / ", w.name, " ", badge(w.status)),
        h(
          "div.head-actions",
          ["pending", "running"].includes(w.status)
            ? button("Cancel workflow", async () => {
                await api("POST", `/workflows/${id}/cancel`);
                toast("Workflow cancelled");
                await load();
              }, { kind: "danger" })
            : null,
          w.status === "failed"
            ? button("Retry failed jobs", async () => {
                await api("POST", `/workflows/${id}/retry`);
                toast("Workflow retried");
                await load();
              }, { kind: "primary" })
            : null
        )
      ),
      h(
        "div.stats",
        ["total", "completed", "processing", "pending", "failed"].map((k) =>
          h("div.stat", h("div.stat-value", num(p[k] ?? "—")), h("div.stat-label", k))
        )
      ),
      card("Graph", dag(nodes, edges)),
      w.description ? card("Description", h("p", w.description)) : null
    );
  }
  const reload = debounce(() => load().catch(() => {}), 500);
  const off = live.on((ev) => ev.job_id && ids.has(ev.job_id) && reload());
  await load();
  return off;
}
