import { calculateObjectSize, Long } from 'bson';
import { randomBytes } from 'node:crypto';
import { MAX_BSON_OBJECT_SIZE } from './wire.js';
import type { Doc } from './values.js';

/** Room left in a 16 MiB reply for the envelope around a batch. */
const BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;
const DEFAULT_FIRST_BATCH = 101;

interface OpenCursor {
  ns: string;
  docs: Doc[];
  pos: number;
  lastUsed: number;
}

export interface Batch {
  docs: Doc[];
  /** 0 when the cursor is exhausted (and already forgotten). */
  id: Long;
}

/**
 * Server-side cursors over already-materialised results. Results are references to stored
 * documents, which are immutable (updates swap in new objects), so a cursor sees a stable
 * snapshot without copying.
 */
export class CursorRegistry {
  private readonly cursors = new Map<bigint, OpenCursor>();

  constructor(private readonly idleTimeoutMs: number) {}

  get size(): number {
    return this.cursors.size;
  }

  private newId(): bigint {
    for (;;) {
      const id = randomBytes(8).readBigInt64LE() & 0x7fffffffffffffffn;
      if (id !== 0n && !this.cursors.has(id)) return id;
    }
  }

  /** Cuts a batch of at most `batchSize` documents (and ~16 MiB). */
  private cut(docs: Doc[], from: number, batchSize: number): number {
    let end = from;
    let bytes = 0;
    const max = Math.min(docs.length, from + batchSize);
    while (end < max) {
      bytes += calculateObjectSize(docs[end]!);
      if (bytes > BATCH_BYTES && end > from) break;
      end++;
    }
    return end;
  }

  /** First batch of a result; keeps a cursor open only if something remains. */
  open(ns: string, docs: Doc[], batchSize: number | undefined, singleBatch = false): Batch {
    const size = batchSize === undefined || batchSize <= 0 ? DEFAULT_FIRST_BATCH : batchSize;
    // batchSize 0 means "open the cursor but return nothing yet" (used by drivers for aggregate).
    const end = batchSize === 0 ? 0 : this.cut(docs, 0, size);
    const first = docs.slice(0, end);
    if (end >= docs.length || singleBatch) return { docs: first, id: Long.ZERO };
    const id = this.newId();
    this.cursors.set(id, { ns, docs, pos: end, lastUsed: Date.now() });
    return { docs: first, id: Long.fromBigInt(id) };
  }

  has(id: bigint): boolean {
    return this.cursors.has(id);
  }

  nsOf(id: bigint): string | undefined {
    return this.cursors.get(id)?.ns;
  }

  next(id: bigint, batchSize: number | undefined): Batch | null {
    const c = this.cursors.get(id);
    if (!c) return null;
    const size = batchSize === undefined || batchSize <= 0 ? Infinity : batchSize;
    const end = this.cut(c.docs, c.pos, size);
    const batch = c.docs.slice(c.pos, end);
    c.pos = end;
    c.lastUsed = Date.now();
    if (end >= c.docs.length) {
      this.cursors.delete(id);
      return { docs: batch, id: Long.ZERO };
    }
    return { docs: batch, id: Long.fromBigInt(id) };
  }

  kill(id: bigint): boolean {
    return this.cursors.delete(id);
  }

  /** Forgets cursors idle longer than the timeout, as mongod does after 10 minutes. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [id, c] of this.cursors) {
      if (now - c.lastUsed > this.idleTimeoutMs) {
        this.cursors.delete(id);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.cursors.clear();
  }
}
