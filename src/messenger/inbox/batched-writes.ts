import type { AnyBulkWriteOperation, BulkWriteOptions, Document } from 'mongodb';

const DUPLICATE_KEY = 11000;
const MAX_BATCH = 256;

/** How one write of a batch ended: written, or refused by a unique index (a redelivery, a retry). */
export type BatchedWriteResult = 'ok' | 'duplicate';

interface Waiting {
  readonly op: AnyBulkWriteOperation<Document>;
  resolve(result: BatchedWriteResult): void;
  reject(error: unknown): void;
}

/**
 * Independent single-document writes on one collection, issued during the same turn of the event
 * loop, leave together as one unordered `bulkWrite`. Under load the loop serves many requests and
 * finished turns per turn, so they share a database round trip (each costs the driver, BSON and a
 * socket write far more than the write itself); a lone write leaves within the same turn. Batches
 * never wait for each other, so one slow or hung command holds back only its own writes. Each caller
 * learns how its own write ended; a failure of the whole command fails every write in it.
 */
export class BatchedWrites {
  private waiting: Waiting[] = [];

  constructor(
    private readonly collection: () => {
      bulkWrite(ops: AnyBulkWriteOperation<Document>[], options: BulkWriteOptions): Promise<unknown>;
    },
  ) {}

  write(op: AnyBulkWriteOperation<Document>): Promise<BatchedWriteResult> {
    return new Promise<BatchedWriteResult>((resolve, reject) => {
      this.waiting.push({ op, resolve, reject });
      if (this.waiting.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const all = this.waiting;
    this.waiting = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) void this.send(all.slice(i, i + MAX_BATCH));
  }

  private async send(batch: readonly Waiting[]): Promise<void> {
    try {
      await this.collection().bulkWrite(
        batch.map((w) => w.op),
        { ordered: false },
      );
      for (const w of batch) w.resolve('ok');
    } catch (error) {
      const failed = writeErrorsByIndex(error);
      if (!failed) {
        for (const w of batch) w.reject(error);
        return;
      }
      batch.forEach((w, i) => {
        const e = failed.get(i);
        if (e === undefined) w.resolve('ok');
        else if (e.code === DUPLICATE_KEY) w.resolve('duplicate');
        else w.reject(e);
      });
    }
  }
}

/**
 * The per-operation errors of an unordered bulk write, by operation index; undefined when the
 * command failed as a whole (or reported a write concern error), so no write can be called done.
 */
function writeErrorsByIndex(error: unknown): Map<number, { code?: number; index: number }> | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as {
    writeErrors?: { code?: number; index: number }[] | { code?: number; index: number };
    writeConcernError?: unknown;
    result?: { getWriteConcernError?: () => unknown };
  };
  if (e.writeConcernError || e.result?.getWriteConcernError?.()) return undefined;
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  if (list.length === 0) return undefined;
  return new Map(list.map((w) => [w.index, w]));
}
