// Workers: status, heartbeat age (ticking), load and the jobs each one holds.

import { api } from "../api.js";
import * as live from "../live.js";
import { badge, card, clear, debounce, h, jobLink, num, table, time } from "../ui.js";

export async function render(root) {
  const body = h("div");
  clear(
    root,
    h("div.page-head", h("h1", "Workers"), h("p.muted", "Registered workers, most recent heartbeat first.")),
    card(null, body)
  );
  async function load() {
    const workers = await api("GET", "/dashboard/workers");
    clear(
      body,
      table(
        [
          { label: "Worker", cell: (w) => h("span.mono", { title: w.id }, w.id) },
          { label: "Host", cell: (w) => w.hostname },
          { label: "Queues", cell: (w) => w.queue_names.join(", ") },
          { label: "Status", cell: (w) => badge(w.status) },
          { label: "Heartbeat", cell: (w) => time(w.last_heartbeat), cls: "heartbeat" },
          { label: "Load", cell: (w) => loadBar(w.current_jobs, w.max_concurrency) },
          { label: "Current jobs", cell: (w) => (w.current_job_ids.length ? w.current_job_ids.map((id) => [jobLink(id), " "]) : h("span.muted", "idle")) },
          { label: "Done", cell: (w) => num(w.jobs_processed), cls: "num" },
          { label: "Failed", cell: (w) => num(w.jobs_failed), cls: "num" },
        ],
        workers,
        { testid: "workers", empty: "No worker has registered yet." }
      )
    );
  }
  const reload = debounce(() => load().catch(() => {}), 1000);
  const off = live.on((ev) => (ev.name.startsWith("worker.") || ev.type === "JobStatusChange" || ev.type === "JobCompleted") && reload());
  const timer = setInterval(() => load().catch(() => {}), 10000);
  await load();
  return () => {
    off();
    clearInterval(timer);
  };
}

function loadBar(current, max) {
  const fill = h("div.bar-fill");
  fill.style.width = `${max ? Math.min(100, (100 * current) / max) : 0}%`;
  return h("div.load", h("div.bar", fill), h("span.muted", `${current}/${max}`));
}
