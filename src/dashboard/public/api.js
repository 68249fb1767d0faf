// The admin API client: same origin, the session cookie, and the CSRF token on every unsafe call.

const meta = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="api-base"]'));
export const API_BASE = meta?.content || '/admin/api';

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** @type {{ csrf: string | null, onUnauthenticated: () => void }} */
export const session = { csrf: null, onUnauthenticated: () => {} };

/**
 * @param {'GET'|'POST'|'PUT'|'PATCH'|'DELETE'} method
 * @param {string} path  relative to the API base, e.g. `/fans?q=x`
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['x-csrf-token'] = session.csrf;
  const res = await fetch(API_BASE + path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const text = await res.text();
  /** @type {any} */
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    const err = new ApiError(
      res.status,
      String(e.code ?? res.status),
      String(e.message ?? res.statusText),
      e.details,
    );
    if (res.status === 401 && path !== '/session') session.onUnauthenticated();
    throw err;
  }
  return data;
}

/**
 * Builds a query string from the defined values.
 * @param {Record<string, string | number | boolean | undefined | null>} params
 */
export function qs(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : '';
}

/** `/healthz` (outside the admin API). */
export async function health() {
  const res = await fetch('/healthz', { cache: 'no-store' });
  return res.json();
}

/** The API's own description, used to show only the screens whose endpoints exist. @type {Promise<Set<string>> | null} */
let features = null;

/** @returns {Promise<Set<string>>} `METHOD /path` of every endpoint (OpenAPI path syntax, `{id}`). */
export function endpoints() {
  features ??= api('GET', '/openapi.json').then(
    (doc) => {
      /** @type {Set<string>} */
      const out = new Set();
      for (const [path, ops] of Object.entries(doc?.paths ?? {})) {
        for (const m of Object.keys(/** @type {object} */ (ops))) out.add(`${m.toUpperCase()} ${path}`);
      }
      return out;
    },
    () => {
      features = null;
      return new Set();
    },
  );
  return features;
}

/** @param {string} key e.g. `GET /campaigns` */
export async function has(key) {
  return (await endpoints()).has(key);
}
