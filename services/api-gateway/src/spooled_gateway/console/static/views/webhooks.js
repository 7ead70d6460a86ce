// Outgoing webhook endpoints: health, deliveries with their attempts, resend
// and test. Shown only where the outgoing-webhooks API is deployed.

import { api, available } from "../api.js";
import { badge, button, card, clear, h, json, num, table, time, toast, when } from "../ui.js";

export async function render(root, params) {
  if (!(await available("/outgoing-webhooks"))) {
    clear(
      root,
      h("div.page-head", h("h1", "Webhooks")),
      card(null, h("p.muted", "The outgoing-webhooks API is not available on this deployment."))
    );
    return;
  }
  return params.length ? detail(root, params[0]) : list(root);
}

async function list(root) {
  const body = h("div");
  clear(root, h("div.page-head", h("h1", "Webhook endpoints")), card(null, body));
  const hooks = await api("GET", "/outgoing-webhooks");
  clear(
    body,
    table(
      [
        { label: "Name", cell: (w) => h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}` }, w.name) },
        { label: "URL", cell: (w) => h("span.mono.clip", { title: w.url }, w.url) },
        { label: "Events", cell: (w) => (w.events || []).join(", ") },
        { label: "State", cell: (w) => badge(w.enabled ? "active" : "disabled") },
        { label: "Last", cell: (w) => (w.last_status ? badge(w.last_status) : "—") },
        { label: "Failures", cell: (w) => num(w.failure_count), cls: "num" },
        { label: "Last sent", cell: (w) => time(w.last_triggered_at) },
      ],
      hooks,
      { testid: "webhooks", empty: "No webhook endpoints yet." }
    )
  );
}

async function detail(root, hookId) {
  const id = encodeURIComponent(hookId);
  const chosen = h("div");
  async function load() {
    const [w, deliveries] = await Promise.all([
      api("GET", `/outgoing-webhooks/${id}`),
      api("GET", `/outgoing-webhooks/${id}/deliveries`, { query: { limit: 100 } }),
    ]);
    clear(
      root,
      h(
        "div.page-head",
        h("h1", h("a.crumb", { href: "#/webhooks" }, "Webhooks"), " / ", w.name, " ", badge(w.enabled ? "active" : "disabled")),
        h(
          "div.head-actions",
          button("Send test", async () => {
            const r = await api("POST", `/outgoing-webhooks/${id}/test`);
            toast(r.success ? `Test delivered (${r.status_code}, ${r.response_time_ms} ms)` : `Test failed: ${r.error || r.status_code}`, r.success ? "info" : "error");
          })
        )
      ),
      card(
        null,
        h(
          "dl.kv",
          h("dt", "URL"), h("dd", h("span.mono", w.url)),
          h("dt", "Events"), h("dd", (w.events || []).join(", ")),
          h("dt", "Consecutive failures"), h("dd", num(w.failure_count)),
          h("dt", "Last status"), h("dd", w.last_status || "—")
        )
      ),
      card(
        "Deliveries",
        table(
          [
            { label: "Event", cell: (d) => h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); show(d); } }, d.event) },
            { label: "Status", cell: (d) => badge(d.status) },
            { label: "HTTP", cell: (d) => (d.status_code ? String(d.status_code) : "—"), cls: "num" },
            { label: "Attempts", cell: (d) => num(d.attempts), cls: "num" },
            { label: "Created", cell: (d) => time(d.created_at) },
            { label: "Delivered", cell: (d) => (d.delivered_at ? when(d.delivered_at) : "—") },
            { label: "Error", cell: (d) => h("span.err.clip", { title: d.error || "" }, d.error || "") },
            {
              label: "",
              cell: (d) =>
                button("Resend", async () => {
                  const r = await api("POST", `/outgoing-webhooks/${id}/retry/${encodeURIComponent(d.id)}`);
                  toast(r.message || "Resent");
                  await load();
                }, { testid: "resend" }),
              cls: "actions",
            },
          ],
          deliveries,
          { testid: "deliveries", empty: "Nothing delivered yet." }
        )
      ),
      chosen
    );
  }
  function show(d) {
    clear(chosen, card(`Delivery ${d.id}`, h("div.cols", card("Payload", json(d.payload)), card("Response", h("pre.json", d.response_body || "")))));
  }
  await load();
}
