// Live events: one EventSource on /api/v1/events?token=<jwt> for the whole
// console. Views subscribe with on(fn) and get normalised events:
//   {type: "JobStatusChange", name: "job.status", job_id, queue_name, status, data}
// The stream reconnects by itself (EventSource), after a "reconnect" event,
// and with a refreshed token when the old one stopped working.

import { refresh, token } from "./api.js";

const NAMES = [
  "job.created",
  "job.status",
  "job.completed",
  "job.failed",
  "queue.stats",
  "worker.heartbeat",
  "worker.registered",
  "worker.deregistered",
  "system.health",
];
const subscribers = new Set();
const stateListeners = new Set();
let source = null;
let state = "offline";
let retryTimer = null;
let lastId = null;

export function on(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

export function onState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

function setState(next) {
  state = next;
  for (const fn of stateListeners) fn(state);
}

/** What status a job has after this envelope, if it says. */
function impliedStatus(env) {
  switch (env.type) {
    case "JobCreated":
      return "pending";
    case "JobStatusChange":
      return env.data.new_status;
    case "JobCompleted":
      return "completed";
    default:
      return null;
  }
}

function dispatch(name, raw, id) {
  let env;
  try {
    env = JSON.parse(raw);
  } catch {
    return;
  }
  if (id) lastId = id;
  const data = env.data || {};
  const event = {
    type: env.type,
    name,
    job_id: data.job_id || null,
    queue_name: data.queue_name || null,
    status: impliedStatus(env),
    data,
    at: Date.now(),
  };
  for (const fn of subscribers) {
    try {
      fn(event);
    } catch (err) {
      console.error("live subscriber failed", err);
    }
  }
}

export function connect() {
  disconnect();
  const t = token();
  if (!t) return;
  const url = new URL("/api/v1/events", location.origin);
  url.searchParams.set("token", t);
  setState("connecting");
  source = new EventSource(url);
  source.onopen = () => setState("live");
  for (const name of NAMES) {
    source.addEventListener(name, (ev) => dispatch(name, ev.data, ev.lastEventId));
  }
  source.addEventListener("reconnect", () => reopen(500));
  source.onerror = () => {
    // CLOSED: the server refused (expired token, 429, realtime down); else the
    // browser is already retrying on its own.
    if (source && source.readyState === EventSource.CLOSED) {
      setState("offline");
      reopen(3000, true);
    } else {
      setState("connecting");
    }
  };
}

function reopen(delay, refreshFirst = false) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(async () => {
    if (refreshFirst) await refresh();
    if (token()) connect();
  }, delay);
}

export function disconnect() {
  clearTimeout(retryTimer);
  if (source) {
    source.close();
    source = null;
  }
  setState("offline");
}

export function lastEventId() {
  return lastId;
}
