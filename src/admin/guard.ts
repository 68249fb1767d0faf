import { AdminError } from './errors.js';

/**
 * Operator-injection guard. Request values must never reach MongoDB as operators or dotted paths, so any
 * object key that starts with `$` or contains `.` (and the prototype-pollution names) is a 400 before a
 * handler runs — whatever the schemas say. Schemas are the second line: they accept only strings and
 * numbers where strings are expected, and strict objects refuse unknown keys.
 */

const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 16;

export interface UnsafeKey {
  readonly path: string;
  readonly reason: string;
}

export function findUnsafeKey(value: unknown, path = '', depth = 0): UnsafeKey | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return { path, reason: 'nested too deeply' };
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.keys(value).map((k) => [k, (value as Record<string, unknown>)[k]]);
  for (const [key, child] of entries) {
    const childPath = path ? `${path}.${key}` : key;
    if (!Array.isArray(value)) {
      if (key.startsWith('$')) return { path: childPath, reason: 'keys must not start with "$"' };
      if (key.includes('.')) return { path: childPath, reason: 'keys must not contain "."' };
      if (FORBIDDEN_NAMES.has(key)) return { path: childPath, reason: `"${key}" is not an accepted key` };
    }
    const found = findUnsafeKey(child, childPath, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Query-string names: also refuse `$` anywhere and brackets, which some parsers turn into objects. */
export function findUnsafeQueryName(names: Iterable<string>): UnsafeKey | undefined {
  for (const name of names) {
    if (/[$.[\]]/.test(name)) return { path: name, reason: 'query parameter names must not contain $ . [ ]' };
    if (FORBIDDEN_NAMES.has(name)) return { path: name, reason: `"${name}" is not an accepted parameter` };
  }
  return undefined;
}

export function unsafeInputError(where: 'body' | 'query', found: UnsafeKey): AdminError {
  return new AdminError(
    'validation',
    `Invalid ${where}: ${found.reason}`,
    { issues: [{ path: [where, ...found.path.split('.').filter(Boolean)], message: found.reason }] },
    'operator_injection',
  );
}

/**
 * The query string parsed from the raw URL, independent of the host app's `query parser` setting:
 * a repeated name becomes an array (which string schemas refuse), nothing ever becomes an object.
 */
export function parseQueryString(url: string): Record<string, string | string[]> {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of params) {
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
