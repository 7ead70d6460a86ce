// One job: why it is (not) running, its attempts, every history event, the
// lease and worker, payload/result, trace id, dependencies; live status.

import { api, ApiError } from "../api.js";
import { dag } from "../graph.js";
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
  json,
  ms,
  table,
  time,
  toast,
  when,
} from "../ui.js";
import { boostForm } from "./queues.js";

const OUTCOMES = new Set(["completed", "retry_scheduled", "deadlettered", "lease_expired", "released", "cancelled"]);

/** Attempts from the history: each claim ("processing") and what ended it. */
export function attempts(events) {
  const out = [];
  for (const e of events) {
    const d = e.details || {};
    if (e.event_type === "processing") {
      out.push({ n: out.length + 1, worker: e.worker_id || d.worker_id, lease: d.lease_id, started: e.created_at, outcome: "running" });
    } else if (OUTCOMES.has(e.event_type) && out.length && out[out.length - 1].outcome === "running") {
      const a = out[out.length - 1];
      a.outcome = e.event_type;
      a.ended = e.created_at;
      a.error = d.error || d.reason || null;
      a.duration = d.duration_ms ?? (Date.parse(e.created_at) - Date.parse(a.started));
    }
  }
  return out;
}

/** A W3C trace id from the payload, tags or history, if the producer left one. */
export function traceId(job, events) {
  const bags = [job.payload, job.tags, ...events.map((e) => e.details)].filter((b) => b && typeof b === "object");
  for (const b of bags) {
    for (const key of ["trace_id", "traceId", "traceparent", "_trace_id"]) {
      const v = b[key];
      if (typeof v === "string" && v) {
        const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(v);
        return m ? m[1] : v;
      }
    }
  }
  return null;
}

function kv(pairs) {
  return h("dl.kv", pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", k), h("dd", v ?? "—")]));
}

function diagnosisCard(d) {
  if (!d) return card("Why isn't it running?", h("p.muted", "Diagnosis unavailable."));
  const [first, ...rest] = d.blockers;
  const details = Object.entries(first.details || {}).filter(([, v]) => v !== null && v !== undefined);
  return h(
    `section.card.diagnose.d-${d.runnable ? "ready" : "blocked"}`,
    { "data-testid": "diagnose" },
    h("h2", "Why isn't it running?"),
    h("div.blocker", h("code.code", { "data-testid": "diagnose-code" }, first.code), h("p", { "data-testid": "diagnose-message" }, first.message)),
    details.length
      ? h(
          "dl.kv.small",
          details.map(([k, v]) => [h("dt", k), h("dd", detailValue(k, v))])
        )
      : null,
    rest.length
      ? h("div.also", h("h3", "Also holding it back"), h("ul", rest.map((b) => h("li", h("code.code", b.code), " ", b.message))))
      : null,
    h("p.muted.small", "Checked ", time(d.checked_at))
  );
}

function detailValue(key, v) {
  if (key === "dependencies" && Array.isArray(v)) {
    return h("ul.deps", v.map((d) => h("li", jobLink(d.job_id), " ", badge(d.status), " ", h("span.muted", d.queue_name))));
  }
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

async function dependencyGraph(job) {
  let deps = null;
  try {
    deps = await api("GET", `/jobs/${encodeURIComponent(job.id)}/dependencies`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  const nodes = new Map([[job.id, { id: job.id, label: "this job", sub: job.queue_name, status: job.status }]]);
  const edges = [];
  const add = (j, asParent) => {
    const id = j.job_id || j.id;
    nodes.set(id, { id, label: id.slice(0, 8), sub: j.queue_name, status: j.status });
    edges.push(asParent ? { from: id, to: job.id } : { from: job.id, to: id });
  };
  if (deps) {
    (deps.dependencies || []).forEach((j) => add(j, true));
    (deps.dependents || []).forEach((j) => add(j, false));
  } else if (job.parent_job_id) {
    const parent = await api("GET", `/jobs/${encodeURIComponent(job.parent_job_id)}`).catch(() => null);
    if (parent) add(parent, true);
  }
  return nodes.size > 1 ? card("Dependencies", dag([...nodes.values()], edges)) : null;
}

function actions(job, reload) {
  const id = encodeURIComponent(job.id);
  const out = [];
  if (["pending", "scheduled"].includes(job.status)) {
    out.push(
      button("Cancel", async () => {
        if (!(await confirmDialog("Cancel this job?", "It will never run.", { confirm: "Cancel job", danger: true }))) return;
        await api("DELETE", `/jobs/${id}`);
        toast("Job cancelled");
        await reload();
      }, { kind: "danger", testid: "cancel-job" }),
      boostForm(job, reload)
    );
  }
  if (["failed", "deadletter"].includes(job.status)) {
    out.push(
      button("Retry now", async () => {
        await api("POST", `/jobs/${id}/retry`);
        toast("Job sent back to its queue");
        await reload();
      }, { kind: "primary", testid: "retry-job" })
    );
  }
  return h("div.head-actions", out);
}

export async function render(root, params) {
  const jobId = params[0];
  const id = encodeURIComponent(jobId);
  let statusBadge = null;

  async function load() {
    const [job, history, diagnosis] = await Promise.all([
      api("GET", `/jobs/${id}`),
      api("GET", `/jobs/${id}/history`, { query: { limit: 500 } }),
      api("GET", `/jobs/${id}/diagnose`).catch(() => null),
    ]);
    const tries = attempts(history);
    const trace = traceId(job, history);
    statusBadge = h("span#job-status", { "data-testid": "job-status" }, badge(job.status));
    clear(
      root,
      h(
        "div.page-head",
        h("h1", h("a.crumb", { href: "#/jobs" }, "Jobs"), " / ", h("span.mono", job.id), " ", statusBadge),
        actions(job, load)
      ),
      h(
        "div.cols",
        diagnosisCard(diagnosis),
        card(
          "Job",
          kv([
            ["Queue", h("a", { href: `#/queues/${encodeURIComponent(job.queue_name)}` }, job.queue_name)],
            ["Priority", String(job.priority)],
            ["Attempts", `${job.retry_count} retries of ${job.max_retries}`],
            ["Created", when(job.created_at)],
            ["Scheduled", job.scheduled_at ? when(job.scheduled_at) : "—"],
            ["Started", job.started_at ? when(job.started_at) : "—"],
            ["Finished", job.completed_at ? when(job.completed_at) : "—"],
            ["Expires", job.expires_at ? when(job.expires_at) : "never"],
            ["Timeout", `${job.timeout_seconds} s`],
            ["Worker", job.assigned_worker_id || "—"],
            ["Lease", job.lease_id ? h("span.mono", job.lease_id) : "—"],
            ["Lease until", job.lease_expires_at ? time(job.lease_expires_at) : "—"],
            ["Trace id", trace ? h("span.mono", { "data-testid": "trace-id" }, trace) : "—"],
            ["Idempotency key", job.idempotency_key || "—"],
            ["Parent", job.parent_job_id ? jobLink(job.parent_job_id) : "—"],
            ["Workflow", job.workflow_id ? h("a", { href: `#/workflows/${encodeURIComponent(job.workflow_id)}` }, job.workflow_id) : "—"],
            ["Tags", job.tags ? h("span.mono", JSON.stringify(job.tags)) : "—"],
          ])
        )
      ),
      job.last_error ? h("div.card.error-card", h("h2", "Last error"), h("pre.err", job.last_error)) : null,
      card(
        "Attempts",
        table(
          [
            { label: "#", cell: (a) => String(a.n), cls: "num" },
            { label: "Worker", cell: (a) => h("span.mono", a.worker || "—") },
            { label: "Lease", cell: (a) => h("span.mono", a.lease ? a.lease.slice(0, 8) : "—") },
            { label: "Started", cell: (a) => when(a.started) },
            { label: "Outcome", cell: (a) => badge(a.outcome) },
            { label: "Took", cell: (a) => (a.duration !== undefined ? ms(a.duration) : "—"), cls: "num" },
            { label: "Error", cell: (a) => h("span.err", a.error || "") },
          ],
          tries,
          { key: (a) => String(a.n), testid: "attempts", empty: "Not claimed yet." }
        )
      ),
      card(
        "Timeline",
        h(
          "ol.timeline",
          { "data-testid": "timeline" },
          history.map((e) =>
            h(
              `li.ev-${e.event_type}`,
              h("span.ev-type", e.event_type),
              h("span.ev-time", { title: e.created_at }, when(e.created_at)),
              h("span.mono.ev-worker", e.worker_id || ""),
              h("span.ev-details", compact(e.details))
            )
          )
        )
      ),
      h("div.cols", card("Payload", json(job.payload)), card("Result", json(job.result)))
    );
    const graph = await dependencyGraph(job).catch(() => null);
    if (graph) root.append(graph);
  }

  const reload = debounce(() => load().catch(() => {}), 300);
  const off = live.on((ev) => {
    if (ev.job_id !== jobId) return;
    if (ev.status && statusBadge) clear(statusBadge, badge(ev.status));
    reload();
  });
  await load();
  return off;
}

function compact(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details)
    .filter(([k, v]) => k !== "organization_id" && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join("  ");
}
