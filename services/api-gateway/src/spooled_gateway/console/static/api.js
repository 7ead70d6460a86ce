// The REST API with the session's JWT. Login exchanges an API key for a token
// pair (POST /api/v1/auth/login); an expired access token is refreshed once.
// Tokens live in sessionStorage: closing the tab ends the session.

const BASE = "/api/v1";
const STORE = "spooled.console.session";
const MAX_RETRY_AFTER_S = 5;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let session = load();
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) sessionStorage.setItem(STORE, JSON.stringify(next));
  else sessionStorage.removeItem(STORE);
  for (const fn of listeners) fn(session);
}

export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function loggedIn() {
  return !!(session && session.access_token);
}

export function token() {
  return session ? session.access_token : null;
}

export async function login(apiKey) {
  const r = await fetch(`${BASE}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ api_key: apiKey.trim() }),
  });
  const body = await parse(r);
  if (!r.ok) throw new ApiError(r.status, body);
  save({ access_token: body.access_token, refresh_token: body.refresh_token });
  const me = await api("GET", "/auth/me");
  save({ ...session, me });
  return me;
}

export async function logout() {
  const t = token();
  save(null);
  if (t) {
    await fetch(`${BASE}/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${t}` } }).catch(() => {});
  }
}

export function me() {
  return session && session.me;
}

let refreshing = null;
export async function refresh() {
  if (!session || !session.refresh_token) return false;
  refreshing =
    refreshing ||
    fetch(`${BASE}/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh_token }),
    })
      .then(async (r) => {
        if (!r.ok) return false;
        const body = await r.json();
        save({ ...session, access_token: body.access_token });
        return true;
      })
      .catch(() => false)
      .finally(() => (refreshing = null));
  return refreshing;
}

async function parse(r) {
  if (r.status === 204) return null;
  const text = await r.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** api("GET", "/jobs", {query, body, raw}) → parsed JSON (or {data, headers} with raw). */
export async function api(method, path, { query, body, raw = false } = {}, retried = false) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && !retried && (await refresh())) {
    return api(method, path, { query, body, raw }, true);
  }
  if (r.status === 429 && !retried) {
    // Rate limited (plan or key limit): wait as told (capped) and try once more.
    const wait = Math.min(Number(r.headers.get("retry-after")) || 1, MAX_RETRY_AFTER_S);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    return api(method, path, { query, body, raw }, true);
  }
  const data = await parse(r);
  if (r.status === 401) save(null);
  if (!r.ok) throw new ApiError(r.status, data);
  return raw ? { data, headers: r.headers } : data;
}

/** Whether an endpoint exists on this deployment (404 with NOT_FOUND "No route" = absent). */
export async function available(path) {
  try {
    await api("GET", path, { query: { limit: 1 } });
    return true;
  } catch (err) {
    return !(err instanceof ApiError && (err.status === 404 || err.status === 405));
  }
}
