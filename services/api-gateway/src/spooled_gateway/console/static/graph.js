// A DAG drawn as layered SVG: each node in the column of its longest path
// from a root, edges as curves left → right. Nodes link to the job page.

import { h, svg } from "./ui.js";

const NODE_W = 168;
const NODE_H = 46;
const GAP_X = 70;
const GAP_Y = 18;

/** nodes: [{id, label, sub, status}], edges: [{from, to}] (from runs before to). */
export function dag(nodes, edges) {
  if (!nodes.length) return h("p.muted", "No jobs in this graph.");
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parents = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) if (byId.has(e.from) && byId.has(e.to)) parents.get(e.to).push(e.from);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle: draw it anyway
    visiting.add(id);
    const d = Math.max(-1, ...parents.get(id).map(depthOf)) + 1;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = [];
  for (const n of nodes) {
    const d = depthOf(n.id);
    (columns[d] = columns[d] || []).push(n);
  }
  const pos = new Map();
  columns.forEach((col, x) =>
    col.forEach((n, y) => pos.set(n.id, { x: 10 + x * (NODE_W + GAP_X), y: 10 + y * (NODE_H + GAP_Y) }))
  );
  const width = 20 + columns.length * (NODE_W + GAP_X) - GAP_X;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  const paths = edges
    .filter((e) => pos.has(e.from) && pos.has(e.to))
    .map((e) => {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 4;
      const y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      return svg("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: "edge", "marker-end": "url(#arrow)" });
    });
  const boxes = nodes.map((n) => {
    const p = pos.get(n.id);
    const link = svg(
      "a",
      { href: `#/jobs/${encodeURIComponent(n.id)}`, class: `node s-${n.status}`, "data-testid": "graph-node" },
      svg("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6 }),
      svg("text", { x: p.x + 10, y: p.y + 19, class: "node-label" }, truncate(n.label, 22)),
      svg("text", { x: p.x + 10, y: p.y + 36, class: "node-sub" }, truncate(`${n.status} · ${n.sub || ""}`, 26)),
      svg("title", {}, `${n.label}\n${n.id}\n${n.status}`)
    );
    return link;
  });
  return h(
    "div.graph",
    { "data-testid": "dag" },
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "Dependency graph" },
      svg(
        "defs",
        {},
        svg(
          "marker",
          { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
          svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" })
        )
      ),
      paths,
      boxes
    )
  );
}

function truncate(s, n) {
  s = String(s || "");
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}
