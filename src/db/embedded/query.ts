import { Query } from 'mingo';
import { Binary, Long, ObjectId } from 'bson';
import { commandError, toCommandError } from './errors.js';
import { comparePositions, type IdOrder, type Position } from './id-order.js';
import type { Collection } from './storage.js';
import {
  encodeKey,
  isPlainObject,
  MISSING,
  parseSort,
  pathValues,
  sortDocs,
  typeRank,
  type Doc,
} from './values.js';

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
 * How an equality filter's candidates would be found: through the _id map or the index covering
 * the longest prefix of equality fields. `estimate` (an upper bound of the candidates) is known
 * before any is fetched, so a caller can prefer the `_id` order when the index would return most of
 * the collection (e.g. every fan of the one Page).
 */
interface CandidatePlan {
  readonly byId: boolean;
  readonly estimate: number;
  fetch(): Doc[];
  /** The candidates one by one, for callers that may stop early (unsorted, limited). */
  scan(): Iterable<Doc>;
  /** The candidates in the order of `field` when the index keeps them so (its next field), else null. */
  orderedBy(field: string): IdOrder | null;
}

function candidatePlan(coll: Collection, filter: unknown): CandidatePlan | null {
  if (!isPlainObject(filter)) return null;
  const eq = equalityConstraints(filter);
  if (eq.size === 0) return null;
  const ids = eq.get('_id');
  if (ids) {
    return {
      byId: true,
      estimate: ids.length,
      scan() {
        return this.fetch();
      },
      orderedBy: () => null,
      fetch() {
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
      },
    };
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
  const index = best;
  const level = bestDepth - 1;
  let estimate = 0;
  for (const key of keys) estimate += index.lookupCount(level, key);
  return {
    byId: false,
    estimate,
    fetch: () => [...scan()],
    scan,
    orderedBy: (field) =>
      keys.length === 1 && index.fields[bestDepth] === field
        ? index.orderedPosting(level, keys[0]!, coll.docs)
        : null,
  };
  function* scan(): Generator<Doc> {
    // One key: its posting holds each id once, no need to remember what was seen.
    const seen = keys.length > 1 ? new Set<string>() : null;
    for (const key of keys) {
      for (const id of index.lookup(level, key)) {
        if (seen) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        const d = coll.docs.get(id);
        if (d) yield d;
      }
    }
  }
}

/**
 * The documents an equality filter can possibly match, found through the _id map or the
 * index covering the longest prefix of equality fields; null means "no index helps, scan".
 * Callers still run the full filter on each candidate, so this only has to be a superset.
 */
export function indexCandidates(coll: Collection, filter: unknown): Doc[] | null {
  return candidatePlan(coll, filter)?.fetch() ?? null;
}

/** One side of a range: `strict` for $gt/$lt, not for $gte/$lte. */
interface IdBound {
  value: unknown;
  strict: boolean;
}

/**
 * Bound values whose matches mingo confines to their own BSON type (type bracketing), so that
 * every match lies in one contiguous stretch of the `_id` order. Others (null, objects, MinKey…)
 * keep the scan.
 */
function isBracketedBound(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isNaN(v);
  return typeof v === 'string' || typeof v === 'boolean' || v instanceof ObjectId || v instanceof Date;
}

/**
 * The range of `field` (`_id`, or an index's next field) a filter implies through top-level (or
 * $and-ed) $gt/$gte/$lt/$lte conditions. Other conditions, including any other operator on the field,
 * are left to the matcher, which still runs on every document of the range: the range only has to
 * contain every match.
 */
export function fieldRange(
  filter: unknown,
  field = '_id',
  out: { lower: IdBound[]; upper: IdBound[] } = { lower: [], upper: [] },
): { lower: IdBound[]; upper: IdBound[] } {
  if (!isPlainObject(filter)) return out;
  for (const k of Object.keys(filter)) {
    const v = filter[k];
    if (k === '$and' && Array.isArray(v)) {
      for (const sub of v) fieldRange(sub, field, out);
      continue;
    }
    if (k !== field || !isPlainObject(v)) continue;
    for (const op of Object.keys(v)) {
      const b = v[op];
      if (!isBracketedBound(b)) continue;
      if (op === '$gt' || op === '$gte') out.lower.push({ value: b, strict: op === '$gt' });
      else if (op === '$lt' || op === '$lte') out.upper.push({ value: b, strict: op === '$lt' });
    }
  }
  return out;
}

/**
 * The stretch of the `_id` order that holds every document the range can match: from the
 * tightest lower bound (or the start of the upper bound's BSON type) to the tightest upper bound
 * (or the end of the lower bound's type).
 */
function idStretch(order: IdOrder, range: { lower: IdBound[]; upper: IdBound[] }): [Position, Position] {
  let from = order.start();
  let to = order.end();
  for (const b of range.lower) {
    const p = order.seekValue(b.value, b.strict);
    if (comparePositions(p, from) > 0) from = p;
    const typeEnd = order.seekRank(typeRank(b.value), true);
    if (comparePositions(typeEnd, to) < 0) to = typeEnd;
  }
  for (const b of range.upper) {
    // the first position at or above the bound (strict) or above it is where matches end
    const p = order.seekValue(b.value, !b.strict);
    if (comparePositions(p, to) < 0) to = p;
    const typeStart = order.seekRank(typeRank(b.value), false);
    if (comparePositions(typeStart, from) > 0) from = typeStart;
  }
  return [from, to];
}

export interface FindOptions {
  sort?: unknown;
  skip?: number;
  limit?: number;
}

/**
 * Matching documents in `_id` order, walked from the range's bound; null when `budget` documents
 * were examined before the walk could finish (the caller then takes its cheaper plan).
 */
function walkOrder(
  coll: Collection,
  order: IdOrder,
  range: { lower: IdBound[]; upper: IdBound[] },
  dir: 1 | -1,
  match: Matcher,
  skip: number,
  limit: number,
  budget: number,
): Doc[] | null {
  const [from, to] = idStretch(order, range);
  const out: Doc[] = [];
  let skipped = 0;
  let examined = 0;
  let complete = true;
  order.walk(from, to, dir, (key) => {
    if (++examined > budget) {
      complete = false;
      return false;
    }
    const d = coll.docs.get(key);
    if (d === undefined || !match(d)) return true;
    if (skipped < skip) {
      skipped++;
      return true;
    }
    out.push(d);
    return out.length < limit;
  });
  return complete ? out : null;
}

/** Matching documents in result order, with skip/limit applied (no projection). */
export function findDocs(coll: Collection | undefined, filter: unknown, opts: FindOptions = {}): Doc[] {
  if (!coll) return [];
  const match = compileFilter(filter);
  const skip = Math.max(0, opts.skip ?? 0);
  const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
  const spec = parseSort(opts.sort);
  const plan = candidatePlan(coll, filter);
  // Sorted by _id alone, or unsorted with an _id range: the _id order serves it as MongoDB's _id
  // index does, without looking at documents outside the range or past the limit.
  const idDir = spec === null ? 1 : spec.length === 1 && spec[0]![0] === '_id' ? spec[0]![1] : null;
  if (idDir !== null && !plan?.byId) {
    const range = fieldRange(filter);
    if (spec !== null || range.lower.length > 0 || range.upper.length > 0) {
      // An equality index that narrows to fewer documents than the walk would examine is cheaper;
      // the walk stops after that many and the index is used (at most twice the index's work).
      const budget = plan ? plan.estimate : Infinity;
      const walked = walkOrder(coll, coll.idOrder(), range, idDir, match, skip, limit, budget);
      if (walked) return walked;
    }
  }
  // Equality on an index prefix, sorted by the index's next field (the inbox's due events: state,
  // then nextAttemptAt): walk that posting in order from the range's bound, as MongoDB walks the index.
  if (spec !== null && spec.length === 1 && plan) {
    const [field, dir] = spec[0]!;
    const order = plan.orderedBy(field);
    if (order) return walkOrder(coll, order, fieldRange(filter, field), dir, match, skip, limit, Infinity)!;
  }
  if (!spec) {
    // Unsorted: candidates are read lazily, so a limit stops reading them too (the sender's poll
    // for a few due records among a thousand pending ones).
    const source: Iterable<Doc> = plan?.scan() ?? coll.docs.values();
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
  for (const d of plan?.fetch() ?? coll.docs.values()) if (match(d)) matched.push(d);
  const sorted = sortDocs(matched, spec, skip + limit);
  return sorted.slice(skip, skip + limit);
}

/**
 * `{a: 1, b: true}` (with or without `_id: 0`): top-level fields kept as they are, the shape the app
 * uses on hot reads (a broadcast batch projects 500 fans). Null for anything mingo must interpret.
 */
function topLevelInclusion(projection: Doc): { fields: Set<string>; id: boolean } | null {
  const fields = new Set<string>();
  let id = true;
  let idIncluded = false;
  for (const k of Object.keys(projection)) {
    const v = projection[k];
    if (k === '_id') {
      if (v === 0 || v === false) id = false;
      else if (v === 1 || v === true) idIncluded = true;
      else return null;
      continue;
    }
    if ((v !== 1 && v !== true) || k.includes('.') || k.startsWith('$')) return null;
    fields.add(k);
  }
  return fields.size > 0 || idIncluded ? { fields, id } : null;
}

/** Applies a find-style projection; stored documents are left untouched. */
export function projectDocs(docs: Doc[], projection: unknown, filter: unknown): Doc[] {
  if (!isPlainObject(projection) || Object.keys(projection).length === 0 || docs.length === 0) return docs;
  const simple = topLevelInclusion(projection);
  if (simple) {
    // Values are shared, not copied: stored documents are never mutated in place.
    const { fields, id } = simple;
    return docs.map((d) => {
      const out: Doc = {};
      for (const k of Object.keys(d)) if (k === '_id' ? id : fields.has(k)) out[k] = d[k];
      return out;
    });
  }
  const positional = Object.keys(projection).some((k) => k.endsWith('.$'));
  const query = new Query(positional && isPlainObject(filter) ? filter : {});
  return query.find<Doc>(docs, projection).all();
}
