// Helpers shared by the JS SDK suites: raw HTTP with Basic auth, the 404 skip probe, and polling.
import { setTimeout as sleep } from "node:timers/promises";

export const BASE_URL = process.env.LANGFUSE_BASE_URL.replace(/\/$/, "");
export const PUBLIC_KEY = process.env.LANGFUSE_PUBLIC_KEY;
export const SECRET_KEY = process.env.LANGFUSE_SECRET_KEY;
const AUTH = "Basic " + Buffer.from(`${PUBLIC_KEY}:${SECRET_KEY}`).toString("base64");

/** Raw request with project Basic auth; resolves to { status, body }. */
export async function http(method, path, body) {
  const res = await fetch(BASE_URL + path, {
    method,
    headers: { Authorization: AUTH, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body: parsed };
}

/**
 * Skips the test (returns false) when `method path` answers 404 (or 405, another method only):
 * xtrace has not built that endpoint yet. Probes are list routes or invalid POSTs, which never 404 when the route exists.
 */
export async function require(t, method, path, body) {
  const { status, body: payload } = await http(method, path, body);
  // 405: the path is routed for another method only (e.g. legacy POST /api/public/traces).
  if (status === 404 || status === 405) {
    t.skip(`xtrace has no ${method} ${path} yet (answered ${status}: ${JSON.stringify(payload)})`);
    return false;
  }
  return true;
}

/** Calls `check` until it resolves without throwing; rethrows the last error after `timeoutMs`. */
export async function eventually(check, timeoutMs = 20_000, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(intervalMs);
    }
  }
}

export const uid = (prefix) => `${prefix}-${Math.random().toString(16).slice(2, 12)}`;
