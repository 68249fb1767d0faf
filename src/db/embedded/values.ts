import { Binary, Decimal128, Long, ObjectId, Timestamp, MinKey, MaxKey } from 'bson';

/** A stored document: what `bson.deserialize` produces (plain objects, arrays, bson value classes). */
export type Doc = Record<string, unknown>;

/** Marks "field absent" in index key extraction, where MongoDB treats it as null. */
export const MISSING: unique symbol = Symbol('missing');
export type Maybe = unknown | typeof MISSING;

export function isPlainObject(v: unknown): v is Doc {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Deep copy of the mutable parts of a document (plain objects, arrays, Dates).
 * BSON value classes (ObjectId, Binary, Long, ...) are immutable in practice and are
 * shared, which is what makes this several times faster than a bson round trip and
 * keeps their classes (structuredClone would turn an ObjectId into a plain object).
 */
export function cloneValue<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneValue(v[i] as unknown);
    return out as T;
  }
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const k of Object.keys(v)) out[k] = cloneValue(v[k]);
  return out as T;
}

/**
 * Canonical string for a value such that two values encode equally exactly when MongoDB
 * considers them equal for index purposes (1, 1.0 and Long(1) are one key; "1" is another).
 * Strings are length-prefixed so compound keys joined with '|' stay unambiguous.
 */
export function encodeKey(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return 'S' + v.length + ':' + v;
    case 'number':
      if (Number.isNaN(v)) return 'N:NaN';
      return 'N:' + (v === 0 ? 0 : v);
    case 'boolean':
      return v ? 'B:1' : 'B:0';
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? 'N:' + Number(v) : 'L:' + v.toString();
    case 'undefined':
      return 'n';
    case 'object':
      break;
    default:
      return '?' + String(v);
  }
  if (v === null) return 'n';
  if (v instanceof ObjectId) return 'O:' + v.toHexString();
  if (v instanceof Date) return 'D:' + v.getTime();
  if (Array.isArray(v)) return 'A[' + v.map(encodeKey).join(',') + ']';
  if (isPlainObject(v)) {
    let s = '{';
    for (const k of Object.keys(v)) s += k.length + ':' + k + '=' + encodeKey(v[k]) + ',';
    return s + '}';
  }
  if (v instanceof Long) {
    const n = v.toNumber();
    return Number.isSafeInteger(n) ? 'N:' + n : 'L:' + v.toString();
  }
  if (v instanceof Binary) return 'X:' + v.sub_type + ':' + Buffer.from(v.buffer).toString('base64');
  if (v instanceof Decimal128) return 'M:' + v.toString();
  if (v instanceof Timestamp) return 'T:' + v.toString();
  if (v instanceof RegExp) return 'R:' + v.source + '/' + v.flags;
  if (v instanceof MinKey) return 'm';
  if (v instanceof MaxKey) return 'x';
  return '?' + (v.constructor?.name ?? 'Object') + ':' + JSON.stringify(v);
}

/** The _id key used by the primary map (same encoding as indexes, so lookups share it). */
export const idKeyOf = encodeKey;

/**
 * All values a (possibly dotted) path reaches, expanding arrays the way MongoDB multikey
 * indexes do: `{tags: ['a','b']}` yields 'a' and 'b'; `{a: [{b: 1}, {b: 2}]}` for 'a.b' yields
 * 1 and 2. A path that reaches nothing yields MISSING.
 */
export function pathValues(doc: Doc, path: string): unknown[] {
  const out: unknown[] = [];
  collect(doc, path.split('.'), 0, out);
  if (out.length === 0) out.push(MISSING);
  return out;
}

function collect(value: unknown, parts: string[], i: number, out: unknown[]): void {
  if (i === parts.length) {
    if (Array.isArray(value)) {
      if (value.length === 0) out.push(value);
      else for (const el of value) out.push(el);
    } else out.push(value);
    return;
  }
  const part = parts[i]!;
  if (Array.isArray(value)) {
    if (/^\d+$/.test(part)) collect(value[Number(part)], parts, i + 1, out);
    for (const el of value) if (isPlainObject(el)) collect(el, parts, i, out);
    return;
  }
  if (isPlainObject(value) && part in value) {
    collect(value[part], parts, i + 1, out);
    return;
  }
  out.push(MISSING);
}

/** The value at a dotted path for sorting; arrays are returned whole. */
export function valueAtPath(doc: Doc, path: string): unknown {
  if (!path.includes('.')) return doc[path];
  const vals: unknown[] = [];
  collect(doc, path.split('.'), 0, vals);
  const present = vals.filter((v) => v !== MISSING);
  if (present.length === 0) return undefined;
  return present.length === 1 ? present[0] : present;
}

/** MongoDB's cross-type sort order (src/mongo/bson/bsontypes.h canonicalizeBSONType). */
export function typeRank(v: unknown): number {
  switch (typeof v) {
    case 'undefined':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    case 'boolean':
      return 8;
    default:
      break;
  }
  if (v === null || v === MISSING) return 1;
  if (v instanceof MinKey) return 0;
  if (v instanceof MaxKey) return 13;
  if (Array.isArray(v)) return 5;
  if (v instanceof Date) return 9;
  if (v instanceof ObjectId) return 7;
  if (v instanceof Long || v instanceof Decimal128) return 2;
  if (v instanceof Binary) return 6;
  if (v instanceof Timestamp) return 10;
  if (v instanceof RegExp) return 11;
  return 4;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number(v.toString());
  return NaN;
}

export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 2: {
      const x = toNumber(a);
      const y = toNumber(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 3:
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
    case 8:
      return a === b ? 0 : a ? 1 : -1;
    case 9: {
      const x = (a as Date).getTime();
      const y = (b as Date).getTime();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 7: {
      const x = (a as ObjectId).toHexString();
      const y = (b as ObjectId).toHexString();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 5: {
      const xs = a as unknown[];
      const ys = b as unknown[];
      for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
        const c = compareValues(xs[i], ys[i]);
        if (c) return c;
      }
      return xs.length - ys.length;
    }
    case 4: {
      if (!isPlainObject(a) || !isPlainObject(b)) return 0;
      const ka = Object.keys(a);
      const kb = Object.keys(b);
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
        const c = compareValues(a[ka[i]!], b[kb[i]!]) || (ka[i]! < kb[i]! ? -1 : ka[i]! > kb[i]! ? 1 : 0);
        if (c) return c;
      }
      return ka.length - kb.length;
    }
    default: {
      const x = encodeKey(a);
      const y = encodeKey(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}

export type SortSpec = [path: string, dir: 1 | -1][];

export function parseSort(sort: unknown): SortSpec | null {
  if (!isPlainObject(sort)) return null;
  const spec: SortSpec = [];
  for (const [k, v] of Object.entries(sort)) spec.push([k, toNumber(v) < 0 ? -1 : 1]);
  return spec.length ? spec : null;
}

/**
 * Sort key of one field: arrays sort by their smallest element ascending and their largest
 * descending, as MongoDB does.
 */
function sortKey(doc: Doc, path: string, dir: 1 | -1): unknown {
  const v = valueAtPath(doc, path);
  if (!Array.isArray(v) || v.length === 0) return v;
  let best: unknown = v[0];
  for (let i = 1; i < v.length; i++) {
    const c = compareValues(v[i], best);
    if (dir === 1 ? c < 0 : c > 0) best = v[i];
  }
  return best;
}

/**
 * A comparator over extracted keys. When every key of a field is a number, or every one is a
 * Date, or every one is a string (the usual case), keys are compared as primitives;
 * otherwise the full cross-type BSON order is used.
 */
function fieldComparator(keys: unknown[]): { values: unknown[]; cmp: (a: unknown, b: unknown) => number } {
  let kind: 'number' | 'date' | 'string' | null = null;
  let mixed = false;
  for (const k of keys) {
    const t =
      typeof k === 'number' ? 'number' : typeof k === 'string' ? 'string' : k instanceof Date ? 'date' : null;
    if (t === null || (kind !== null && t !== kind)) {
      mixed = true;
      break;
    }
    kind = t;
  }
  if (mixed || kind === null) return { values: keys, cmp: compareValues };
  const values = kind === 'date' ? keys.map((k) => (k as Date).getTime()) : keys;
  return {
    values,
    cmp: (a, b) =>
      (a as number | string) < (b as number | string)
        ? -1
        : (a as number | string) > (b as number | string)
          ? 1
          : 0,
  };
}

/** Sorts documents by a spec; uses a bounded selection when only the first `keep` matter. */
export function sortDocs(docs: Doc[], spec: SortSpec, keep = Infinity): Doc[] {
  const n = docs.length;
  const fields = spec.map(([path, dir]) => {
    const raw = new Array<unknown>(n);
    const simple = !path.includes('.');
    for (let i = 0; i < n; i++) {
      const d = docs[i]!;
      const v = simple ? d[path] : undefined;
      raw[i] = simple && !Array.isArray(v) ? v : sortKey(d, path, dir);
    }
    return { dir, ...fieldComparator(raw) };
  });
  const cmp = (x: number, y: number): number => {
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k]!;
      const c = f.cmp(f.values[x], f.values[y]);
      if (c) return c * f.dir;
    }
    return x - y;
  };
  if (keep < n / 4 && keep <= 1000) {
    // Top-k: collect into a buffer, and whenever it holds 4k entries sort it and keep k.
    // Entries not better than the current k-th are skipped without touching the buffer.
    let buf: number[] = [];
    let worst = -1;
    for (let i = 0; i < n; i++) {
      if (worst >= 0 && cmp(i, worst) >= 0) continue;
      buf.push(i);
      if (buf.length >= keep * 4) {
        buf.sort(cmp);
        buf.length = keep;
        worst = buf[keep - 1]!;
      }
    }
    buf.sort(cmp);
    if (buf.length > keep) buf = buf.slice(0, keep);
    return buf.map((i) => docs[i]!);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort(cmp);
  return order.map((i) => docs[i]!);
}
