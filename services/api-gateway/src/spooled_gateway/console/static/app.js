// The console shell: login, navigation, hash routing, live-connection status.
// Each view module exports render(root, params, query) → cleanup function.

import * as api from "./api.js";
import * as live from "./live.js";
import { button, clear, errorText, field, h, tick } from "./ui.js";

const VIEWS = {
  overview: () => import("./views/overview.js"),
  queues: () => import("./views/queues.js"),
  jobs: () => import("./views/jobs.js"),
  job: () => import("./views/job.js"),
  dlq: () => import("./views/dlq.js"),
  workers: () => import("./views/workers.js"),
  schedules: () => import("./views/schedules.js"),
  workflows: () => import("./views/workflows.js"),
  webhooks: () => import("./views/webhooks.js"),
};

const NAV = [
  ["overview", "Overview"],
  ["queues", "Queues"],
  ["jobs", "Jobs"],
  ["dlq", "Dead letters"],
  ["workers", "Workers"],
  ["schedules", "Schedules"],
  ["workflows", "Workflows"],
  ["webhooks", "Webhooks"],
];

const root = document.getElementById("app");
let cleanup = null;
let renderSeq = 0;

/** "#/jobs/abc?status=x" → {view, params: ["abc"], query} */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let view = parts[0] || "overview";
  let params = parts.slice(1);
  if (view === "jobs" && params.length) view = "job";
  return { view, params, query: new URLSearchParams(qs || "") };
}

function loginScreen(message) {
  const input = h("input#api-key", {
    type: "password",
    placeholder: "sp_test_…",
    autocomplete: "off",
    "data-testid": "api-key",
    required: true,
  });
  const status = h("p.error", { "data-testid": "login-error" }, message || "");
  const form = h(
    "form.login",
    { "data-testid": "login-form" },
    h("h1", h("span.logo", "◉"), " Spooled"),
    h("p.muted", "Sign in with an API key. It is exchanged for a session token and never stored."),
    field("API key", input),
    h("button.primary", { type: "submit", "data-testid": "login" }, "Sign in"),
    status
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    try {
      await api.login(input.value);
      input.value = "";
      start();
    } catch (err) {
      status.textContent = err.status === 401 ? "That API key was not accepted." : errorText(err);
    }
  });
  clear(root, h("main.login-wrap", form));
  input.focus();
}

function shell() {
  const me = api.me() || {};
  const org = me.organization || {};
  const dot = h("span.live-dot", { "data-testid": "live-state", title: "Live updates" });
  const liveLabel = h("span.live-label", "offline");
  live.onState((s) => {
    dot.className = `live-dot ${s}`;
    dot.dataset.state = s;
    liveLabel.textContent = s;
  });
  const nav = h(
    "nav.side",
    h("div.brand", h("span.logo", "◉"), " Spooled"),
    NAV.map(([id, label]) => h("a.nav", { href: `#/${id}`, dataset: { view: id }, "data-testid": `nav-${id}` }, label))
  );
  const top = h(
    "header.top",
    h("div.org", org.name || me.organization_id || "", org.plan_tier ? h("span.plan", org.plan_tier) : null),
    h("div.spacer"),
    h("div.live", dot, liveLabel),
    button("Sign out", async () => {
      live.disconnect();
      await api.logout();
      loginScreen();
    }, { testid: "logout" })
  );
  const main = h("main.content#view", { "data-testid": "view" });
  clear(root, h("div.layout", nav, h("div.body", top, main)));
  return main;
}

async function route() {
  const seq = ++renderSeq;
  const main = document.getElementById("view");
  if (!main) return;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a view's cleanup never blocks navigation */
    }
    cleanup = null;
  }
  const { view, params, query } = parseHash();
  for (const a of document.querySelectorAll("a.nav")) {
    const active = a.dataset.view === view || (view === "job" && a.dataset.view === "jobs");
    a.classList.toggle("active", active);
  }
  const load = VIEWS[view];
  if (!load) {
    clear(main, h("p", "No such page. ", h("a", { href: "#/overview" }, "Go to the overview.")));
    return;
  }
  clear(main, h("p.muted.loading", "Loading…"));
  try {
    const mod = await load();
    if (seq !== renderSeq) return;
    clear(main);
    cleanup = (await mod.render(main, params, query)) || null;
  } catch (err) {
    if (seq !== renderSeq) return;
    if (err instanceof api.ApiError && err.status === 401) return loginScreen("Your session ended; sign in again.");
    clear(main, h("div.card.error-card", h("h2", "Could not load this page"), h("p", errorText(err))));
  }
}

function start() {
  if (!api.loggedIn()) return loginScreen();
  shell();
  live.connect();
  route();
}

window.addEventListener("hashchange", () => api.loggedIn() && route());
api.onSession((s) => {
  if (!s) {
    live.disconnect();
    loginScreen("Your session ended; sign in again.");
  }
});
setInterval(() => tick(root), 1000);
start();
