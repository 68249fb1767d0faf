import { Query } from 'mingo';
import { Binary, Long, ObjectId } from 'bson';
import { commandError } from './errors.js';
import type { Collection } from './storage.js';
import { encodeKey, isPlainObject, parseSort, sortDocs, type Doc } from './values.js';

/** $in lists longer than this are cheaper to scan than to probe value by value. */
const MAX_IN_PROBES = 1000;

export type Matcher = (doc: Doc) => boolean;

export function compileFilter(filter: unknown): Matcher {
  if (filter === undefined || filter === null) return () => true;
  if (!isPlainObject(filter)) throw commandError('BadValue', 'filter must be an object');
  if (Object.keys(filter).length === 0) return () => true;
  for (const k of Object.keys(filter)) {
    if (k === '$text' || k === '$near' || k === '$nearSphere') {
      throw commandError('BadValue', `${k} is not supported by the embedded server`);
    }
  }
  const query = new Query(filter);
  return (doc) => query.test(doc);
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
