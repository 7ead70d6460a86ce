// Overview: counts, latency, throughput (per minute and live per second),
// busiest queues and the live event feed.

import { api } from "../api.js";
import { sparkline, throughputBars } from "../charts.js";
import * as live from "../live.js";
import { badge, card, clear, debounce, h, jobLink, ms, num, stat, table, time } from "../ui.js";

const WINDOW_S = 60;
const FEED_MAX = 40;

export async function render(root) {
  const stats = h("div.stats");
  const latency = h("div.stats");
  const chart = h("div");
  const queues = h("div");
  const rate = h("div.rate", { "data-testid": "live-rate" }, "0.0/s");
  const spark = h("div.spark-wrap");
  const feed = h("ol.feed", { "data-testid": "feed" }, h("li.muted", "Waiting for events…"));
  const perSecond = new Array(WINDOW_S).fill(0);
  let lastSecond = Math.floor(Date.now() / 1000);

  clear(
    root,
    h("div.page-head", h("h1", "Overview"), h("p.muted", "Live view of this organization's jobs.")),
    stats,
    h(
      "div.cols",
      card("Latency (last hour)", latency),
      card("Completed per second (live)", h("div.live-rate", rate, spark))
    ),
    card("Throughput per minute (last hour)", chart),
    h("div.cols", card("Busiest queues", queues), card("Live events", feed))
  );

  async function load() {
    const d = await api("GET", "/dashboard", { query: { queue_limit: 8, throughput_minutes: 60 } });
    const j = d.jobs;
    clear(
      stats,
      stat("Pending", num(j.pending), { testid: "count-pending" }),
      stat("Processing", num(j.processing), { testid: "count-processing", tone: "info" }),
      stat("Scheduled", num(j.scheduled)),
      stat("Completed 24h", num(j.completed_24h), { testid: "count-completed", tone: "ok" }),
      stat("Failed 24h", num(j.failed_24h), { testid: "count-failed", tone: j.failed_24h ? "bad" : "" }),
      stat("Dead letters", num(j.deadletter), { tone: j.deadletter ? "warn" : "" })
    );
    clear(
      latency,
      stat("Avg wait", ms(j.avg_wait_time_ms), { testid: "avg-wait" }),
      stat("Avg run time", ms(j.avg_processing_time_ms), { testid: "avg-run" }),
      stat("Workers healthy", `${num(d.workers.healthy)} / ${num(d.workers.total)}`, {
        tone: d.workers.unhealthy ? "warn" : "",
      })
    );
    clear(chart, throughputBars(d.throughput));
    clear(
      queues,
      table(
        [
          { label: "Queue", cell: (q) => h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name) },
          { label: "Pending", cell: (q) => num(q.pending), cls: "num" },
          { label: "Running", cell: (q) => num(q.processing), cls: "num" },
          { label: "DLQ", cell: (q) => num(q.deadletter), cls: "num" },
          { label: "", cell: (q) => (q.paused ? badge("paused") : "") },
        ],
        d.queues,
        { key: (q) => q.name, empty: "No queues yet: enqueue a job to create one." }
      )
    );
  }

  function roll() {
    const now = Math.floor(Date.now() / 1000);
    for (; lastSecond < now; lastSecond++) {
      perSecond.shift();
      perSecond.push(0);
    }
  }

  function drawRate() {
    roll();
    const last10 = perSecond.slice(-10).reduce((a, b) => a + b, 0) / 10;
    rate.textContent = `${last10.toFixed(1)}/s`;
    clear(spark, sparkline(perSecond));
  }

  function addToFeed(ev) {
    if (!ev.job_id && !ev.data.worker_id) return;
    if (feed.firstChild && feed.firstChild.classList.contains("muted")) feed.replaceChildren();
    const what = ev.status ? badge(ev.status) : h("span.badge", ev.name);
    const subject = ev.job_id ? jobLink(ev.job_id) : h("span.mono", ev.data.worker_id);
    const detail = ev.type === "JobFailed" ? h("span.err", ev.data.error || "") : null;
    feed.prepend(
      h("li", time(new Date(ev.at).toISOString()), " ", what, " ", subject, " ", h("span.muted", ev.queue_name || ""), " ", detail)
    );
    while (feed.childElementCount > FEED_MAX) feed.lastChild.remove();
  }

  const reload = debounce(() => load().catch(() => {}), 1500);
  const off = live.on((ev) => {
    if (ev.type === "JobCompleted") {
      roll();
      perSecond[WINDOW_S - 1] += 1;
    }
    if (ev.type !== "WorkerHeartbeat" && ev.type !== "SystemHealth") addToFeed(ev);
    if (ev.job_id) reload();
  });
  const timers = [setInterval(drawRate, 1000), setInterval(() => load().catch(() => {}), 15000)];
  await load();
  drawRate();
  return () => {
    off();
    timers.forEach(clearInterval);
  };
}
