// Dead letters: filter, inspect, retry one / the selected / everything that
// matches the filter, and purge by queue and age, with progress bars.

import { api } from "../api.js";
import * as live from "../live.js";
import {
  button,
  card,
  clear,
  confirmDialog,
  debounce,
  field,
  h,
  jobLink,
  num,
  progress,
  table,
  time,
  toast,
} from "../ui.js";

const PAGE = 50;
const BATCH = 100;
const PURGE_BATCH = 1000;
const MAX_BULK = 10000;

export async function render(root, _params, query) {
  const filters = {
    queue_name: query.get("queue") || "",
    tag: query.get("tag") || "",
    created_after: query.get("after") ? new Date(query.get("after")).toISOString() : "",
    created_before: query.get("before") ? new Date(query.get("before")).toISOString() : "",
  };
  const selected = new Set();
  const listBox = h("div");
  const bulkBox = h("div.bulk");
  const progressBox = h("div");
  const summary = h("p.muted");

  const input = (name, placeholder, type = "text") =>
    h("input", { name, placeholder, type, value: query.get(name) || "", "data-testid": `dlq-${name}` });
  const inputs = [input("queue", "queue"), input("tag", "tag"), input("after", "", "datetime-local"), input("before", "", "datetime-local")];
  const form = h(
    "form.filters",
    field("Queue", inputs[0]),
    field("Tag", inputs[1]),
    field("Created after", inputs[2]),
    field("Created before", inputs[3]),
    h("button.primary", { type: "submit" }, "Apply"),
    h("a.btn", { href: "#/dlq" }, "Reset")
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const el of inputs) if (el.value) q.set(el.name, el.value);
    location.hash = `#/dlq?${q}`;
  });

  clear(
    root,
    h("div.page-head", h("h1", "Dead letters"), summary),
    card(null, form, bulkBox, progressBox),
    card(null, listBox)
  );

  async function matchingIds() {
    const ids = [];
    for (let offset = 0; ids.length < MAX_BULK; offset += BATCH) {
      const { data, headers } = await api("GET", "/jobs/dlq", { query: { ...filters, limit: BATCH, offset }, raw: true });
      ids.push(...data.map((j) => j.id));
      if (headers.get("x-has-more") !== "true") break;
    }
    return ids;
  }

  async function retryIds(ids, label) {
    const bar = progress(label);
    clear(progressBox, bar.el);
    let done = 0;
    let skipped = 0;
    bar.set(0, ids.length);
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      const r = await api("POST", "/jobs/dlq/retry", { body: { job_ids: chunk, limit: chunk.length } });
      done += r.retried_count;
      skipped += (r.skipped_jobs || []).length;
      bar.set(done + skipped, ids.length, skipped ? `${skipped} skipped` : "");
    }
    toast(`Retried ${done} job${done === 1 ? "" : "s"}${skipped ? `, ${skipped} skipped` : ""}`);
    selected.clear();
    await load();
  }

  async function purge() {
    if (filters.tag || filters.created_after) {
      toast("Purge works by queue and age (created before); clear the tag and 'created after' filters.", "error");
      return;
    }
    const stats = await api("GET", "/jobs/stats", { query: { queue_name: filters.queue_name } });
    const scope = filters.queue_name ? `queue ${filters.queue_name}` : "every queue";
    const age = filters.created_before ? ` created before ${new Date(filters.created_before).toLocaleString()}` : "";
    const ok = await confirmDialog(
      "Purge dead letters?",
      `Deletes dead-lettered jobs of ${scope}${age} for good (up to ${num(stats.deadletter)}). This cannot be undone.`,
      { confirm: "Purge", danger: true }
    );
    if (!ok) return;
    const bar = progress("Purging");
    clear(progressBox, bar.el);
    let purged = 0;
    bar.set(0, stats.deadletter);
    for (;;) {
      const r = await api("POST", "/jobs/dlq/purge", {
        body: { confirm: true, queue_name: filters.queue_name || undefined, older_than: filters.created_before || undefined, limit: PURGE_BATCH },
      });
      purged += r.purged_count;
      bar.set(purged, Math.max(purged, stats.deadletter));
      if (r.purged_count < PURGE_BATCH) break;
    }
    toast(`Purged ${purged} dead letter${purged === 1 ? "" : "s"}`);
    await load();
  }

  function drawBulk() {
    clear(
      bulkBox,
      button(`Retry selected (${selected.size})`, () => retryIds([...selected], "Retrying"), {
        testid: "retry-selected",
        disabled: !selected.size,
      }),
      button("Retry all matching", async () => {
        const ids = await matchingIds();
        if (!ids.length) return toast("Nothing matches the filter");
        if (await confirmDialog("Retry all matching?", `${ids.length} dead-lettered job(s) go back to their queues.`, { confirm: "Retry all" })) {
          await retryIds(ids, "Retrying");
        }
      }, { testid: "retry-matching" }),
      button("Purge matching…", purge, { kind: "danger", testid: "purge" })
    );
  }

  async function load() {
    const offset = Number(query.get("offset") || 0);
    const { data, headers } = await api("GET", "/jobs/dlq", { query: { ...filters, limit: PAGE, offset }, raw: true });
    const more = headers.get("x-has-more") === "true";
    summary.textContent = data.length ? `Showing ${offset + 1}–${offset + data.length}${more ? " (more below)" : ""}` : "";
    const all = h("input", { type: "checkbox", "aria-label": "Select all", "data-testid": "select-all" });
    all.addEventListener("change", () => {
      for (const j of data) all.checked ? selected.add(j.id) : selected.delete(j.id);
      for (const cb of listBox.querySelectorAll("input.pick")) cb.checked = all.checked;
      drawBulk();
    });
    const pick = (j) => {
      const cb = h("input.pick", { type: "checkbox", checked: selected.has(j.id), "aria-label": `Select ${j.id}`, "data-testid": "pick" });
      cb.addEventListener("change", () => {
        cb.checked ? selected.add(j.id) : selected.delete(j.id);
        drawBulk();
      });
      return cb;
    };
    clear(
      listBox,
      table(
        [
          { label: all, cell: pick, cls: "pick-cell" },
          { label: "Job", cell: (j) => jobLink(j.id) },
          { label: "Queue", cell: (j) => j.queue_name },
          { label: "Retries", cell: (j) => `${j.retry_count}/${j.max_retries}`, cls: "num" },
          { label: "Error", cell: (j) => h("span.err.clip", { title: j.last_error || "" }, j.last_error || "") },
          { label: "Dead since", cell: (j) => time(j.completed_at) },
          {
            label: "",
            cell: (j) =>
              button("Retry", () => retryIds([j.id], "Retrying"), { testid: "retry-one" }),
            cls: "actions",
          },
        ],
        data,
        { testid: "dlq", empty: "The dead-letter queue is empty." }
      ),
      h(
        "div.pager",
        offset > 0 ? h("a.btn", { href: `#/dlq?${withOffset(query, offset - PAGE)}` }, "← Newer") : null,
        more ? h("a.btn", { href: `#/dlq?${withOffset(query, offset + PAGE)}` }, "Older →") : null
      )
    );
    drawBulk();
  }

  const reload = debounce(() => load().catch(() => {}), 1500);
  const off = live.on((ev) => ev.type === "JobStatusChange" && ev.status === "deadletter" && reload());
  await load();
  return off;
}

function withOffset(query, offset) {
  const q = new URLSearchParams(query);
  q.set("offset", String(Math.max(0, offset)));
  return q.toString();
}
