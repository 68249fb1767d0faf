import { Query } from 'mingo';
import { Binary, Long, ObjectId } from 'bson';
import { commandError, toCommandError } from './errors.js';
import type { Collection } from './storage.js';
import { encodeKey, isPlainObject, MISSING, parseSort, pathValues, sortDocs, type Doc } from './values.js';

/** $in lists longer than this are cheaper to scan than to probe value by value. */
const MAX_IN_PROBES = 1000;

export type Matcher = (doc: Doc) => boolean;

/** Compiled mingo queries for the non-equality part of filters, which repeat (e.g. `{sold: {$lt: 50}}`). */
const compiledCache = new Map<string, Query>();
const COMPILED_CACHE_MAX = 2000;

function cachedQuery(filter: Doc): Query {
  const key = encodeKey(filter);
  let q = compiledCache.get(key);
  if (q) {
    // refresh recency: Map iteration order is insertion order, so the oldest is evicted first
    compiledCache.delete(key);
    compiledCache.set(key, q);
    return q;
  }
  q = new Query(filter);
  // $$NOW is fixed when a query is compiled, so such queries must not be reused.
  if (key.includes('$$NOW') || key.includes('$$CLUSTER_TIME')) return q;
  if (compiledCache.size >= COMPILED_CACHE_MAX) compiledCache.delete(compiledCache.keys().next().value!);
  compiledCache.set(key, q);
  return q;
}

/** MongoDB equality between a stored value and an indexable scalar from a filter. */
function scalarEquals(v: unknown, target: unknown, targetKey: string): boolean {
  if (typeof target === 'string' || typeof target === 'boolean') return v === target;
  if (typeof target === 'number' && typeof v === 'number') return v === target;
  if (target instanceof ObjectId) return v instanceof ObjectId && v.equals(target);
  if (target instanceof Date) return v instanceof Date && v.getTime() === target.getTime();
  return encodeKey(v) === targetKey;
}

function fieldEquals(doc: Doc, path: string, target: unknown, targetKey: string): boolean {
  if (!path.includes('.')) {
    const v = doc[path];
    if (!Array.isArray(v)) return scalarEquals(v, target, targetKey);
  }
  for (const v of pathValues(doc, path)) if (v !== MISSING && scalarEquals(v, target, targetKey)) return true;
  return false;
}

/**
 * Compiles a filter into a predicate. Top-level `field: scalar` conditions (the hot path:
 * lookups by _id or a unique key) are checked directly; the rest goes to mingo, whose
 * compiled queries are cached because compiling costs far more than testing.
 */
export function compileFilter(filter: unknown): Matcher {
  if (filter === undefined || filter === null) return () => true;
  if (!isPlainObject(filter)) throw commandError('BadValue', 'filter must be an object');
  const keys = Object.keys(filter);
  if (keys.length === 0) return () => true;
  const eq: [string, unknown, string][] = [];
  let rest: Doc | null = null;
  for (const k of keys) {
    if (k === '$text' || k === '$near' || k === '$nearSphere' || k === '$where') {
      throw commandError('BadValue', `${k} is not supported by the embedded server`);
    }
    const v = filter[k];
    if (!k.startsWith('$') && isIndexable(v)) eq.push([k, v, encodeKey(v)]);
    else (rest ??= {})[k] = v;
  }
  let query: Query | null = null;
  if (rest) {
    try {
      query = cachedQuery(rest);
    } catch (err) {
      throw toCommandError(err);
    }
  }
  if (eq.length === 0) return (doc) => query!.test(doc);
  return (doc) => {
    for (let i = 0; i < eq.length; i++) {
      const [path, target, key] = eq[i]!;
      if (!fieldEquals(doc, path, target, key)) return false;
    }
    return query === null || query.test(doc);
  };
}

/** Values that an equality index can look up: no null (means "missing or null"), no regex, no arrays. */
function isIndexable(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return true;
    case 'object':
      return v instanceof ObjectId || v instanceof Date || v instanceof Long || v instanceof Binary;
    default:
      return false;
  }
}

function equalityValues(v: unknown): unknown[] | null {
  if (isIndexable(v)) return [v];
  if (!isPlainObject(v)) return null;
  const keys = Object.keys(v);
  if (keys.length === 0 || !keys[0]!.startsWith('$')) return null;
  if ('$eq' in v && isIndexable(v.$eq)) return [v.$eq];
  const list = v.$in;
  if (Array.isArray(list) && list.length <= MAX_IN_PROBES && list.every(isIndexable)) return list;
  return null;
}

/** Field → candidate values implied by the filter's top-level equality (and $and) conditions. */
export function equalityConstraints(filter: Doc, out = new Map<string, unknown[]>()): Map<string, unknown[]> {
  for (const k of Object.keys(filter)) {
    const v = filter[k];
    if (k === '$and' && Array.isArray(v)) {
      for (const sub of v) if (isPlainObject(sub)) equalityConstraints(sub, out);
      continue;
    }
    if (k.startsWith('$')) continue;
    const vals = equalityValues(v);
    if (vals && !out.has(k)) out.set(k, vals);
  }
  return out;
}

/**
 * The documents an equality filter can possibly match, found through the _id map or the
 * index covering the longest prefix of equality fields; null means "no index helps, scan".
 * Callers still run the full filter on each candidate, so this only has to be a superset.
 */
export function indexCandidates(coll: Collection, filter: unknown): Doc[] | null {
  if (!isPlainObject(filter)) return null;
  const eq = equalityConstraints(filter);
  if (eq.size === 0) return null;
  const ids = eq.get('_id');
  if (ids) {
    const out: Doc[] = [];
    const seen = new Set<string>();
    for (const v of ids) {
      const k = encodeKey(v);
      if (seen.has(k)) continue;
      seen.add(k);
      const d = coll.docs.get(k);
      if (d) out.push(d);
    }
    return out;
  }
  let best = null;
  let bestDepth = 0;
  for (const ix of coll.indexes) {
    if (!ix.usableForLookup) continue;
    let depth = 0;
    while (depth < ix.fields.length && eq.has(ix.fields[depth]!)) depth++;
    if (depth > bestDepth || (depth === bestDepth && depth > 0 && ix.unique && depth === ix.fields.length)) {
      best = ix;
      bestDepth = depth;
    }
  }
  if (!best) return null;
  let keys = [''];
  for (let i = 0; i < bestDepth; i++) {
    const vals = eq.get(best.fields[i]!)!;
    const next: string[] = [];
    for (const p of keys) for (const v of vals) next.push(i === 0 ? encodeKey(v) : p + '|' + encodeKey(v));
    keys = next;
    if (keys.length > MAX_IN_PROBES) return null;
  }
  const seen = new Set<string>();
  const out: Doc[] = [];
  for (const key of keys) {
    for (const id of best.lookup(bestDepth - 1, key)) {
      if (seen.has(id)) continue;
      seen.add(id);
      const d = coll.docs.get(id);
      if (d) out.push(d);
    }
  }
  return out;
}

export interface FindOptions {
  sort?: unknown;
  skip?: number;
  limit?: number;
}

/** Matching documents in result order, with skip/limit applied (no projection). */
export function findDocs(coll: Collection | undefined, filter: unknown, opts: FindOptions = {}): Doc[] {
  if (!coll) return [];
  const match = compileFilter(filter);
  const skip = Math.max(0, opts.skip ?? 0);
  const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
  const source: Iterable<Doc> = indexCandidates(coll, filter) ?? coll.docs.values();
  const spec = parseSort(opts.sort);
  if (!spec) {
    const out: Doc[] = [];
    let skipped = 0;
    for (const d of source) {
      if (!match(d)) continue;
      if (skipped < skip) {
        skipped++;
        continue;
      }
      out.push(d);
      if (out.length >= limit) break;
    }
    return out;
  }
  const matched: Doc[] = [];
  for (const d of source) if (match(d)) matched.push(d);
  const sorted = sortDocs(matched, spec, skip + limit);
  return sorted.slice(skip, skip + limit);
}

/** Applies a find-style projection; stored documents are left untouched. */
export function projectDocs(docs: Doc[], projection: unknown, filter: unknown): Doc[] {
  if (!isPlainObject(projection) || Object.keys(projection).length === 0 || docs.length === 0) return docs;
  const positional = Object.keys(projection).some((k) => k.endsWith('.$'));
  const query = new Query(positional && isPlainObject(filter) ? filter : {});
  return query.find<Doc>(docs, projection).all();
}
