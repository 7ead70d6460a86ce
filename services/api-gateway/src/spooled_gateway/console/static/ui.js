// Small DOM helpers. Everything is built with createElement/textContent:
// values from the API are never parsed as HTML.

/** h("div.card#id", {onclick, dataset, ...attrs}, ...children) */
export function h(tag, attrs, ...children) {
  const [name, ...parts] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const p of parts) {
    if (p[0] === ".") el.classList.add(p.slice(1));
    else el.id = p.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// -- formatting --------------------------------------------------------------------

export function ago(iso) {
  if (!iso) return "—";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s >= 0 ? `${span(s)} ago` : `in ${span(-s)}`;
}

export function span(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** A timestamp with a live relative hint ("3m 2s ago"), refreshed by tick(). */
export function time(iso) {
  return h("time.rel", { datetime: iso || "", title: iso || "" }, iso ? ago(iso) : "—");
}

export function tick(root = document) {
  for (const el of root.querySelectorAll("time.rel[datetime]")) {
    const iso = el.getAttribute("datetime");
    if (iso) el.textContent = ago(iso);
  }
}

export function num(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

export function ms(n) {
  if (n === null || n === undefined) return "—";
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

export function short(id) {
  return id ? (id.length > 12 ? id.slice(0, 8) + "…" : id) : "—";
}

export function badge(status) {
  return h(`span.badge.s-${status || "unknown"}`, { "data-testid": "status" }, status || "unknown");
}

export function jobLink(id, text) {
  return h("a.mono", { href: `#/jobs/${encodeURIComponent(id)}`, title: id }, text || short(id));
}

export function json(value) {
  return h("pre.json", value === undefined ? "" : JSON.stringify(value, null, 2));
}

// -- building blocks -----------------------------------------------------------------

/** A table: columns [{label, cell(row) → Node|string, cls}]; rows keyed by data-key. */
export function table(columns, rows, { key = (r) => r.id, empty = "Nothing here yet.", testid } = {}) {
  const body = h("tbody");
  for (const row of rows) {
    body.append(
      h("tr", { dataset: { key: key(row) } }, columns.map((c) => h("td", { class: c.cls || null }, c.cell(row))))
    );
  }
  if (!rows.length) body.append(h("tr.empty", h("td", { colspan: columns.length }, empty)));
  return h(
    "table.grid",
    { "data-testid": testid || null },
    h("thead", h("tr", columns.map((c) => h("th", { class: c.cls || null }, c.label)))),
    body
  );
}

export function card(title, ...body) {
  return h("section.card", title ? h("h2", title) : null, ...body);
}

export function stat(label, value, { testid, tone } = {}) {
  return h(
    `div.stat${tone ? ".t-" + tone : ""}`,
    h("div.stat-value", { "data-testid": testid || null }, value),
    h("div.stat-label", label)
  );
}

export function button(label, onclick, { kind = "", testid, title, disabled } = {}) {
  const b = h(`button${kind ? "." + kind : ""}`, { type: "button", "data-testid": testid || null, title, disabled });
  b.textContent = label;
  b.addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (b.disabled) return;
    b.disabled = true;
    try {
      await onclick(ev);
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function field(label, input) {
  return h("label.field", h("span", label), input);
}

export function errorText(err) {
  if (!err) return "Something went wrong";
  if (err.body && err.body.message) return `${err.body.message} (${err.body.code || err.status})`;
  return err.message || String(err);
}

let toastBox;
export function toast(text, kind = "info") {
  toastBox = toastBox || document.body.appendChild(h("div.toasts", { "aria-live": "polite" }));
  const t = h(`div.toast.${kind}`, { "data-testid": "toast" }, text);
  toastBox.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal confirm dialog (native <dialog>); resolves true/false. */
export function confirmDialog(title, text, { confirm = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    const ok = h(`button${danger ? ".danger" : ".primary"}`, { type: "button", "data-testid": "confirm" }, confirm);
    const cancel = h("button", { type: "button" }, "Cancel");
    const dlg = h("dialog.modal", h("h3", title), h("p", text), h("div.actions", cancel, ok));
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", () => done(false));
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A progress bar for bulk operations: set(done, total). */
export function progress(label) {
  const bar = h("div.bar-fill");
  const text = h("span", label);
  const el = h("div.progress", { "data-testid": "progress" }, h("div.bar", bar), text);
  return {
    el,
    set(done, total, note = "") {
      bar.style.width = `${total ? Math.min(100, (100 * done) / total) : 100}%`;
      text.textContent = `${label}: ${done}/${total}${note ? " — " + note : ""}`;
    },
  };
}

export function debounce(fn, wait) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), wait);
  };
}
