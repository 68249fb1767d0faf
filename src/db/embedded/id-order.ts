import { ObjectId } from 'bson';
import { compareValues, typeRank } from './values.js';

/** One document in `_id` order: its `_id` value and its key in the collection's document map. */
interface Entry {
  readonly v: unknown;
  readonly k: string;
}

/** A place between entries: chunk `c`, offset `i` (normalised so that `i` is inside chunk `c`, or c === chunks.length). */
export interface Position {
  c: number;
  i: number;
}

/**
 * Chunks stay between these sizes: inserting or deleting shifts at most one chunk, and a lookup is
 * a binary search over chunks then inside one. Large enough that iteration rarely changes chunk.
 */
const MAX_CHUNK = 512;

/**
 * MongoDB's BSON order for `_id` values (compareValues), with the usual types compared directly
 * because this runs on every insert and every range lookup. NaN sorts below every number, as in
 * MongoDB, which also keeps the order total.
 */
export function compareIds(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a < b) return -1;
    if (a > b) return 1;
    if (a === b) return 0;
    return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : 1;
  }
  if (typeof a === 'string' && typeof b === 'string') return a === b ? 0 : a < b ? -1 : 1;
  if (a instanceof ObjectId && b instanceof ObjectId) return Buffer.compare(a.id, b.id);
  if (a instanceof Date && b instanceof Date) {
    const x = a.getTime();
    const y = b.getTime();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return compareValues(a, b);
}

/** Total order: distinct keys that BSON order ties (e.g. two huge Longs) are ordered by key. */
function compareEntries(a: Entry, b: Entry): number {
  return compareIds(a.v, b.v) || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0);
}

/**
 * The `_id`s of a collection in BSON order, kept up to date on insert and delete, so that a query
 * bounding `_id` or sorting by it can start at the bound and stop after `limit` matches instead of
 * scanning and sorting the whole collection (MongoDB's `_id` index does the same). Also used for a
 * large index posting ordered by the index's next field (Index.orderedPosting): values are then that
 * field's, and keys the documents'.
 */
export class IdOrder {
  private chunks: Entry[][] = [];
  private count = 0;

  /** Builds the order of existing documents in one sort. */
  static build(entries: Iterable<[key: string, id: unknown]>): IdOrder {
    const all: Entry[] = [];
    for (const [k, v] of entries) all.push({ v, k });
    all.sort(compareEntries);
    const order = new IdOrder();
    const half = MAX_CHUNK / 2;
    for (let i = 0; i < all.length; i += half) order.chunks.push(all.slice(i, i + half));
    order.count = all.length;
    return order;
  }

  get size(): number {
    return this.count;
  }

  /** Index of the chunk that holds (or would hold) `e`: the last one whose first entry is ≤ e. */
  private chunkFor(e: Entry): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (compareEntries(this.chunks[mid]![0]!, e) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  add(id: unknown, key: string): void {
    const e: Entry = { v: id, k: key };
    this.count++;
    if (this.chunks.length === 0) {
      this.chunks.push([e]);
      return;
    }
    const c = this.chunkFor(e);
    const chunk = this.chunks[c]!;
    // Ascending ids (ObjectIds, counters) land at the end of the last chunk: no shifting at all.
    if (compareEntries(chunk[chunk.length - 1]!, e) < 0) chunk.push(e);
    else chunk.splice(firstAtLeast(chunk, e), 0, e);
    if (chunk.length > MAX_CHUNK) this.chunks.splice(c + 1, 0, chunk.splice(MAX_CHUNK / 2));
  }

  delete(id: unknown, key: string): void {
    if (this.chunks.length === 0) return;
    const e: Entry = { v: id, k: key };
    const c = this.chunkFor(e);
    const chunk = this.chunks[c]!;
    const i = firstAtLeast(chunk, e);
    if (i >= chunk.length || chunk[i]!.k !== key) return;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
  }

  start(): Position {
    return { c: 0, i: 0 };
  }

  end(): Position {
    return { c: this.chunks.length, i: 0 };
  }

  /**
   * The first position whose `_id` satisfies `atOrAfter` (which must be false for a prefix of the
   * order and true for the rest), e.g. `v => compareIds(v, bound) > 0` for `$gt: bound`.
   */
  seek(atOrAfter: (v: unknown) => boolean): Position {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    // first chunk whose last entry satisfies the predicate
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const ch = chunks[mid]!;
      if (atOrAfter(ch[ch.length - 1]!.v)) hi = mid;
      else lo = mid + 1;
    }
    if (lo === chunks.length) return this.end();
    const chunk = chunks[lo]!;
    let a = 0;
    let b = chunk.length - 1;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (atOrAfter(chunk[mid]!.v)) b = mid;
      else a = mid + 1;
    }
    return { c: lo, i: a };
  }

  /** First position whose `_id` is above (`strict`) or at least `bound`. */
  seekValue(bound: unknown, strict: boolean): Position {
    return strict ? this.seek((v) => compareIds(v, bound) > 0) : this.seek((v) => compareIds(v, bound) >= 0);
  }

  /** First position whose `_id` is of a BSON type ranked `rank` or above (`strict`: above). */
  seekRank(rank: number, strict: boolean): Position {
    return strict ? this.seek((v) => typeRank(v) > rank) : this.seek((v) => typeRank(v) >= rank);
  }

  /**
   * Visits the document keys in [from, to) ascending (dir 1) or descending (dir -1) until `visit`
   * returns false. The order must not change during the walk (callers collect, then write).
   */
  walk(from: Position, to: Position, dir: 1 | -1, visit: (key: string) => boolean): void {
    const chunks = this.chunks;
    if (comparePositions(from, to) >= 0) return;
    if (dir === 1) {
      for (let c = from.c; c <= to.c && c < chunks.length; c++) {
        const chunk = chunks[c]!;
        const last = c === to.c ? to.i : chunk.length;
        for (let i = c === from.c ? from.i : 0; i < last; i++) if (!visit(chunk[i]!.k)) return;
      }
      return;
    }
    for (let c = Math.min(to.c, chunks.length - 1); c >= from.c; c--) {
      const chunk = chunks[c]!;
      const first = c === from.c ? from.i : 0;
      for (let i = (c === to.c ? to.i : chunk.length) - 1; i >= first; i--) if (!visit(chunk[i]!.k)) return;
    }
  }
}

export function comparePositions(a: Position, b: Position): number {
  return a.c - b.c || a.i - b.i;
}

function firstAtLeast(chunk: Entry[], e: Entry): number {
  let lo = 0;
  let hi = chunk.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareEntries(chunk[mid]!, e) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
