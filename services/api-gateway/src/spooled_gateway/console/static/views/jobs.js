// Jobs: filter by status, queue, tag, text and creation time; statuses
// update in place from live events; new matching jobs are announced.

import { api } from "../api.js";
import * as live from "../live.js";
import { badge, button, card, clear, field, h, jobLink, table, time, toast } from "../ui.js";

export const STATUSES = ["pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled"];
const PAGE = 50;

function toIso(local) {
  return local ? new Date(local).toISOString() : "";
}

function filterForm(query, onApply) {
  const status = h(
    "select",
    { name: "status", "data-testid": "filter-status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s }, s))
  );
  status.value = query.get("status") || "";
  const input = (name, placeholder, type = "text") =>
    h("input", { name, placeholder, type, value: query.get(name) || "", "data-testid": `filter-${name}` });
  const queue = input("queue", "queue");
  const tag = input("tag", "tag");
  const q = input("q", "id, queue or idempotency key");
  const after = input("after", "", "datetime-local");
  const before = input("before", "", "datetime-local");
  const form = h(
    "form.filters",
    field("Status", status),
    field("Queue", queue),
    field("Tag", tag),
    field("Search", q),
    field("Created after", after),
    field("Created before", before),
    h("button.primary", { type: "submit", "data-testid": "apply-filters" }, "Apply"),
    h("a.btn", { href: "#/jobs" }, "Reset")
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const el of [status, queue, tag, q, after, before]) if (el.value) next.set(el.name, el.value);
    onApply(next);
  });
  return form;
}

function enqueueForm(after) {
  const queue = h("input", { placeholder: "queue", required: true, "data-testid": "new-queue" });
  const payload = h("textarea", { rows: 2, placeholder: '{"hello": "world"}', "data-testid": "new-payload" });
  const form = h(
    "form.inline-form",
    field("Queue", queue),
    field("Payload (JSON)", payload),
    h("button", { type: "submit", "data-testid": "enqueue" }, "Enqueue")
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    try {
      body = payload.value.trim() ? JSON.parse(payload.value) : {};
    } catch {
      toast("The payload is not valid JSON", "error");
      return;
    }
    try {
      const r = await api("POST", "/jobs", { body: { queue_name: queue.value.trim(), payload: body } });
      toast(`Job ${r.id} enqueued`);
      after();
    } catch (err) {
      toast(err.body ? err.body.message : String(err), "error");
    }
  });
  return h("details.enqueue", h("summary", "Enqueue a job"), form);
}

export async function render(root, _params, query) {
  const offset = Number(query.get("offset") || 0);
  const listBox = h("div");
  const notice = h("div.notice.hidden", { "data-testid": "new-jobs" });
  const go = (q) => (location.hash = `#/jobs?${q.toString()}`);
  clear(
    root,
    h("div.page-head", h("h1", "Jobs")),
    card(null, filterForm(query, go), enqueueForm(() => load())),
    notice,
    card(null, listBox)
  );

  const filters = {
    status: query.get("status") || undefined,
    queue_name: query.get("queue") || undefined,
    tag: query.get("tag") || undefined,
    q: query.get("q") || undefined,
    created_after: toIso(query.get("after")),
    created_before: toIso(query.get("before")),
  };
  let fresh = 0;

  async function load() {
    fresh = 0;
    notice.classList.add("hidden");
    const { data, headers } = await api("GET", "/jobs", { query: { ...filters, limit: PAGE, offset }, raw: true });
    const more = headers.get("x-has-more") === "true";
    const page = (o) => {
      const q = new URLSearchParams(query);
      q.set("offset", String(Math.max(0, o)));
      return `#/jobs?${q}`;
    };
    clear(
      listBox,
      table(
        [
          { label: "Job", cell: (j) => jobLink(j.id) },
          { label: "Queue", cell: (j) => j.queue_name },
          { label: "Status", cell: (j) => badge(j.status), cls: "status-cell" },
          { label: "Prio", cell: (j) => String(j.priority), cls: "num" },
          { label: "Attempts", cell: (j) => `${j.retry_count}/${j.max_retries}`, cls: "num" },
          { label: "Created", cell: (j) => time(j.created_at) },
          { label: "Finished", cell: (j) => time(j.completed_at) },
          { label: "Last error", cell: (j) => h("span.err.clip", { title: j.last_error || "" }, j.last_error || "") },
        ],
        data,
        { testid: "jobs", empty: "No job matches these filters." }
      ),
      h(
        "div.pager",
        offset > 0 ? h("a.btn", { href: page(offset - PAGE) }, "← Newer") : null,
        h("span.muted", data.length ? `${offset + 1}–${offset + data.length}` : ""),
        more ? h("a.btn", { href: page(offset + PAGE), "data-testid": "next-page" }, "Older →") : null
      )
    );
  }

  function matches(ev) {
    if (filters.queue_name && ev.queue_name !== filters.queue_name) return false;
    return !filters.status || filters.status.split(",").includes(ev.status);
  }

  const off = live.on((ev) => {
    if (!ev.job_id) return;
    const row = listBox.querySelector(`tr[data-key="${CSS.escape(ev.job_id)}"]`);
    if (row && ev.status) {
      clear(row.querySelector(".status-cell"), badge(ev.status));
      row.classList.add("flash");
      setTimeout(() => row.classList.remove("flash"), 1200);
    } else if (ev.type === "JobCreated" && offset === 0 && matches(ev)) {
      fresh += 1;
      clear(notice, `${fresh} new job${fresh > 1 ? "s" : ""} `, button("Show", () => load(), { testid: "show-new" }));
      notice.classList.remove("hidden");
    }
  });
  await load();
  return off;
}
