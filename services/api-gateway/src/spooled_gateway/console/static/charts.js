// Tiny SVG charts: stacked bars per minute and a live sparkline.

import { h, svg } from "./ui.js";

/** Stacked bars of [{minute, completed, failed, created}] (completed + failed stacked). */
export function throughputBars(points, { height = 120 } = {}) {
  const width = 600;
  const max = Math.max(1, ...points.map((p) => Math.max(p.completed + p.failed, p.created)));
  const bw = width / Math.max(points.length, 1);
  const bars = [];
  points.forEach((p, i) => {
    const x = i * bw + 1;
    const ok = (p.completed / max) * (height - 14);
    const bad = (p.failed / max) * (height - 14);
    const label = `${new Date(p.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ` +
      `${p.completed} completed, ${p.failed} failed, ${p.created} created`;
    bars.push(
      svg("rect", { x, y: height - ok, width: Math.max(bw - 2, 1), height: ok, class: "bar-ok" }, svg("title", {}, label)),
      svg("rect", { x, y: height - ok - bad, width: Math.max(bw - 2, 1), height: bad, class: "bar-bad" }, svg("title", {}, label))
    );
    if (p.created) {
      const cy = height - (p.created / max) * (height - 14);
      bars.push(svg("circle", { cx: x + bw / 2 - 1, cy, r: 2, class: "dot-created" }, svg("title", {}, label)));
    }
  });
  return h(
    "figure.chart",
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": "Throughput per minute" },
      svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }),
      bars
    ),
    h(
      "figcaption",
      h("span.key.k-ok", "completed"),
      h("span.key.k-bad", "failed"),
      h("span.key.k-created", "created"),
      h("span.muted", ` peak ${max}/min`)
    )
  );
}

/** A sparkline of numbers (oldest first). */
export function sparkline(values, { width = 240, height = 40 } = {}) {
  const max = Math.max(1, ...values);
  const step = width / Math.max(values.length - 1, 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "spark", preserveAspectRatio: "none", role: "img" },
    svg("polyline", { points: pts.join(" "), class: "spark-line" })
  );
}
