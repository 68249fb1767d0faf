import { Query } from 'mingo';
import { ObjectId } from 'bson';
import { commandError } from './errors.js';
import { IdOrder } from './id-order.js';
import { encodeKey, isPlainObject, MISSING, pathValues, type Doc } from './values.js';

/** An index as listIndexes reports it and as the journal and snapshot record it. */
export interface IndexSpec {
  v: number;
  key: Record<string, unknown>;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Doc;
  expireAfterSeconds?: number;
  [option: string]: unknown;
}

/** Set of document ids under one key; a bare string when there is just one (the common case). */
type Posting = string | Set<string>;

/** More index keys than this for one document means a pathological multikey cross product. */
const MAX_KEYS_PER_DOC = 10_000;

/**
 * A posting this large gets its documents kept in the order of the index's next field once a query
 * sorts it that way; smaller ones are cheaper to sort on the fly (and there may be one per fan).
 */
export const ORDERED_POSTING_MIN = 64;

export function defaultIndexName(key: Record<string, unknown>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}_${String(v)}`)
    .join('_');
}

/**
 * A secondary index: equality lookup maps for every prefix of the key pattern (so a query
 * matching the first field of a compound index by equality still avoids a scan), plus
 * uniqueness enforcement on the full key. Ordering is not kept: range queries and sorts scan.
 */
export class Index {
  readonly spec: IndexSpec;
  readonly fields: string[];
  readonly unique: boolean;
  readonly sparse: boolean;
  readonly ttlSeconds: number | null;
  private readonly partial: Query | null;
  /** levels[i] maps the encoded values of fields[0..i] to the ids of documents having them. */
  private readonly levels: Map<string, Posting>[];
  /**
   * Postings kept ordered by the next field (fields[level + 1]), keyed `level:key`, built when a
   * query first sorts such a posting by that field. null: a document holds an array there (its sort
   * key depends on the direction), so that posting is sorted on the fly.
   */
  private readonly ordered = new Map<string, IdOrder | null>();

  constructor(spec: IndexSpec) {
    this.spec = spec;
    this.fields = Object.keys(spec.key);
    if (this.fields.length === 0) throw commandError('BadValue', 'Index keys cannot be empty.');
    for (const v of Object.values(spec.key)) {
      if (v === 'text' || v === '2d' || v === '2dsphere' || v === 'geoHaystack') {
        throw commandError('BadValue', `Index type '${v}' is not supported by the embedded server`);
      }
    }
    this.unique = spec.unique === true;
    this.sparse = spec.sparse === true;
    this.ttlSeconds = typeof spec.expireAfterSeconds === 'number' ? spec.expireAfterSeconds : null;
    this.partial = isPlainObject(spec.partialFilterExpression)
      ? new Query(spec.partialFilterExpression)
      : null;
    this.levels = this.fields.map(() => new Map<string, Posting>());
  }

  get name(): string {
    return this.spec.name;
  }

  /** Partial indexes only hold some documents, so they cannot answer arbitrary equality queries. */
  get usableForLookup(): boolean {
    return this.partial === null;
  }

  /** Keys per prefix level for a document, or null when the index does not cover it. */
  keysOf(doc: Doc): string[][] | null {
    if (this.partial && !this.partial.test(doc)) return null;
    const perField: unknown[][] = this.fields.map((f) => pathValues(doc, f));
    if (this.sparse && perField.every((vals) => vals.length === 1 && vals[0] === MISSING)) return null;
    const levels: string[][] = [];
    let prev: string[] = [''];
    for (let i = 0; i < perField.length; i++) {
      const encoded = new Set<string>();
      for (const v of perField[i]!) encoded.add(v === MISSING ? 'n' : encodeKey(v));
      const next: string[] = [];
      for (const p of prev) for (const e of encoded) next.push(i === 0 ? e : p + '|' + e);
      if (next.length > MAX_KEYS_PER_DOC) {
        throw commandError('BadValue', `too many index keys for one document in index ${this.name}`);
      }
      levels.push(next);
      prev = next;
    }
    return levels;
  }

  /** `doc` is the indexed document: required once ordered postings exist (Storage always passes it). */
  add(id: string, keys: string[][] | null, doc?: Doc): void {
    if (!keys) return;
    for (let i = 0; i < keys.length; i++) {
      const map = this.levels[i]!;
      for (const k of keys[i]!) {
        const cur = map.get(k);
        if (cur === undefined) map.set(k, id);
        else if (typeof cur === 'string') {
          if (cur !== id) map.set(k, new Set([cur, id]));
        } else cur.add(id);
        if (this.ordered.size > 0) this.orderedChange(i, k, id, doc, true);
      }
    }
  }

  remove(id: string, keys: string[][] | null, doc?: Doc): void {
    if (!keys) return;
    for (let i = 0; i < keys.length; i++) {
      const map = this.levels[i]!;
      for (const k of keys[i]!) {
        const cur = map.get(k);
        if (cur === undefined) continue;
        if (typeof cur === 'string') {
          if (cur === id) map.delete(k);
        } else {
          cur.delete(id);
          if (cur.size === 1) map.set(k, cur.values().next().value as string);
          else if (cur.size === 0) map.delete(k);
        }
        if (this.ordered.size > 0) this.orderedChange(i, k, id, doc, false);
      }
    }
  }

  private orderedChange(level: number, key: string, id: string, doc: Doc | undefined, added: boolean): void {
    const name = `${level}:${key}`;
    const order = this.ordered.get(name);
    if (order === undefined) return;
    const value = doc === undefined ? ARRAY : scalarAt(doc, this.fields[level + 1]!);
    // Unknown or array values, and emptied postings: forget the order; a later query rebuilds it.
    if (order === null || value === ARRAY || !this.levels[level]!.has(key)) {
      this.ordered.delete(name);
      return;
    }
    if (added) order.add(value, id);
    else order.delete(value, id);
  }

  /**
   * The documents under `key` at `level`, ordered by the index's next field, or null (no next
   * field, a small posting, or an array value in that field). Built on first use, then maintained.
   */
  orderedPosting(level: number, key: string, docs: Map<string, Doc>): IdOrder | null {
    const field = this.fields[level + 1];
    if (field === undefined || field.includes('.')) return null;
    const name = `${level}:${key}`;
    const known = this.ordered.get(name);
    if (known !== undefined) return known;
    if (this.lookupCount(level, key) < ORDERED_POSTING_MIN) return null;
    const entries: [string, unknown][] = [];
    let order: IdOrder | null = null;
    for (const id of this.lookup(level, key)) {
      const d = docs.get(id);
      const v = d === undefined ? ARRAY : scalarAt(d, field);
      if (v === ARRAY) {
        this.ordered.set(name, null);
        return null;
      }
      entries.push([id, v]);
    }
    order = IdOrder.build(entries);
    this.ordered.set(name, order);
    return order;
  }

  /** The id of another document holding one of these full keys, if this is a unique index. */
  conflictFor(id: string, keys: string[][] | null): { otherId: string; key: string } | null {
    if (!this.unique || !keys) return null;
    const full = this.levels[this.levels.length - 1]!;
    for (const k of keys[keys.length - 1]!) {
      const cur = full.get(k);
      if (cur === undefined) continue;
      if (typeof cur === 'string') {
        if (cur !== id) return { otherId: cur, key: k };
      } else {
        for (const other of cur) if (other !== id) return { otherId: other, key: k };
      }
    }
    return null;
  }

  /** Ids of documents whose first `level + 1` fields encode to `key`. */
  lookup(level: number, key: string): Iterable<string> {
    const cur = this.levels[level]?.get(key);
    if (cur === undefined) return [];
    return typeof cur === 'string' ? [cur] : cur;
  }

  /** How many documents `lookup` would return, without listing them. */
  lookupCount(level: number, key: string): number {
    const cur = this.levels[level]?.get(key);
    if (cur === undefined) return 0;
    return typeof cur === 'string' ? 1 : cur.size;
  }

  clear(): void {
    for (const m of this.levels) m.clear();
    this.ordered.clear();
  }

  /** The `keyValue` MongoDB reports for a duplicate: the field values that produced `key`. */
  keyValueFor(doc: Doc, key: string): Doc {
    const perField = this.fields.map((f) => pathValues(doc, f));
    const pick = (i: number, prefix: string, acc: unknown[]): unknown[] | null => {
      if (i === perField.length) return prefix === key ? acc : null;
      for (const v of perField[i]!) {
        const e = v === MISSING ? 'n' : encodeKey(v);
        const found = pick(i + 1, i === 0 ? e : prefix + '|' + e, [...acc, v === MISSING ? null : v]);
        if (found) return found;
      }
      return null;
    };
    const values = pick(0, '', []) ?? perField.map((vals) => (vals[0] === MISSING ? null : vals[0]));
    const out: Doc = {};
    this.fields.forEach((f, i) => (out[f] = values[i]));
    return out;
  }
}

/** Marks a value the ordered postings cannot place (an array sorts by its min or max element). */
const ARRAY: unique symbol = Symbol('array');

/** A top-level field's value as a sort key (missing → undefined, which sorts as null). */
function scalarAt(doc: Doc, field: string): unknown {
  const v = doc[field];
  return Array.isArray(v) ? ARRAY : v;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof ObjectId) return `ObjectId('${v.toHexString()}')`;
  if (v instanceof Date) return `new Date(${v.getTime()})`;
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[ ${v.map(formatValue).join(', ')} ]`;
  if (isPlainObject(v)) return formatKeyValue(v);
  return String(v);
}

/** `{ email: "a@x.io" }`, as in MongoDB's E11000 messages. */
export function formatKeyValue(kv: Doc): string {
  const parts = Object.entries(kv).map(([k, v]) => `${k}: ${formatValue(v)}`);
  return `{ ${parts.join(', ')} }`;
}

/** Normalises a createIndexes entry and rejects what we cannot honour. */
export function normaliseIndexSpec(raw: Doc): IndexSpec {
  if (!isPlainObject(raw.key)) throw commandError('BadValue', "The 'key' field must be an object");
  const key = raw.key;
  const name = typeof raw.name === 'string' ? raw.name : defaultIndexName(key);
  const spec: IndexSpec = { v: 2, key, name };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'key' || k === 'name' || k === 'v' || k === 'ns' || k === 'background') continue;
    if (k === 'unique' || k === 'sparse') {
      if (v) spec[k] = true;
    } else spec[k] = v;
  }
  return spec;
}

/** Options that must agree for two specs of the same index to be "the same index". */
export function sameIndexOptions(a: IndexSpec, b: IndexSpec): boolean {
  const norm = (s: IndexSpec) =>
    encodeKey({
      unique: s.unique === true,
      sparse: s.sparse === true,
      partial: s.partialFilterExpression ?? null,
      ttl: s.expireAfterSeconds ?? null,
    });
  return norm(a) === norm(b);
}
