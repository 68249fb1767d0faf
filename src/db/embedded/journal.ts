import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { serialize } from 'bson';
import type { Logger } from 'pino';
import { decodeDocument } from './wire.js';
import type { JournalSink, Storage } from './storage.js';
import type { Doc } from './values.js';

/**
 * When acknowledged writes reach the disk platter, not just the OS:
 * - 'always' (default): fdatasync after every group commit, before any reply in the group.
 *   Survives kill -9 and power loss.
 * - 'interval': write() before the reply (survives kill -9: the OS has the bytes), fdatasync
 *   every `fsyncIntervalMs`. A power cut can lose that last interval.
 * - 'never': write() before the reply, fsync left to the OS. For tests and benchmarks.
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export const SNAPSHOT_FILE = 'snapshot.bson';
export const JOURNAL_FILE = 'journal.bson';

/** Frame: u32 payload length, u32 CRC-32 of the payload, BSON payload. */
const FRAME_HEADER = 8;
const MAX_RECORD = 64 * 1024 * 1024;

export function encodeRecord(doc: Doc): Buffer {
  const payload = serialize(doc);
  const buf = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  buf.writeUInt32LE(crc32(payload), 4);
  buf.set(payload, FRAME_HEADER);
  return buf;
}

export interface ReadResult {
  records: Doc[];
  /** Bytes up to the end of the last intact record. */
  validBytes: number;
  totalBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  damage: string | null;
}

/** Reads framed records, stopping at the first torn or corrupt one. */
export function readRecords(file: string): ReadResult {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { records: [], validBytes: 0, totalBytes: 0, damage: null };
    }
    throw err;
  }
  const records: Doc[] = [];
  let off = 0;
  let damage: string | null = null;
  while (off < buf.length) {
    if (off + FRAME_HEADER > buf.length) {
      damage = `truncated record header at byte ${off}`;
      break;
    }
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len < 5 || len > MAX_RECORD || off + FRAME_HEADER + len > buf.length) {
      damage = `truncated or invalid record of ${len} bytes at byte ${off}`;
      break;
    }
    const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
    if (crc32(payload) !== sum) {
      damage = `checksum mismatch in record at byte ${off}`;
      break;
    }
    try {
      records.push(decodeDocument(payload));
    } catch (err) {
      damage = `undecodable record at byte ${off}: ${(err as Error).message}`;
      break;
    }
    off += FRAME_HEADER + len;
  }
  return { records, validBytes: off, totalBytes: buf.length, damage };
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot fsync a directory; rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes a file of framed records atomically (temp file, fsync, rename, fsync dir). */
function writeFramedFileAtomically(file: string, records: Iterable<Doc>): number {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  let bytes = 0;
  try {
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    const flush = () => {
      if (chunkBytes === 0) return;
      const b = Buffer.concat(chunk, chunkBytes);
      let done = 0;
      while (done < b.length) done += fs.writeSync(fd, b, done);
      bytes += b.length;
      chunk = [];
      chunkBytes = 0;
    };
    for (const r of records) {
      const rec = encodeRecord(r);
      chunk.push(rec);
      chunkBytes += rec.length;
      if (chunkBytes > 1 << 20) flush();
    }
    flush();
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
  return bytes;
}

export interface JournalOptions {
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  /** Rewrite the snapshot once the journal exceeds this many bytes (and the snapshot's size). */
  compactAfterBytes: number;
  logger: Logger;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Append-only redo log with group commit. Commands append records synchronously while they
 * mutate memory, then await `waitDurable()` before replying; whichever writes accumulated
 * meanwhile go out in one write (+ one fdatasync under 'always').
 *
 * Files: `snapshot.bson` (full state, generation N) and `journal.bson` (changes since the
 * snapshot of generation N). Each starts with a header record naming its generation, so a
 * crash between writing a new snapshot and resetting the journal is harmless: a journal
 * whose generation is older than the snapshot's is ignored.
 */
export class Journal implements JournalSink {
  private fd: number;
  private generation: number;
  private journalBytes: number;
  private snapshotBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private appended = 0;
  private durable = 0;
  private waiters: Waiter[] = [];
  private flushing = false;
  private failure: Error | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private dirtySinceSync = false;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly storage: Storage,
    private readonly opts: JournalOptions,
    state: { fd: number; generation: number; journalBytes: number; snapshotBytes: number },
  ) {
    this.fd = state.fd;
    this.generation = state.generation;
    this.journalBytes = state.journalBytes;
    this.snapshotBytes = state.snapshotBytes;
    if (opts.fsync === 'interval') {
      this.syncTimer = setInterval(() => this.periodicSync(), opts.fsyncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /**
   * Loads snapshot + journal into `storage`, cuts a torn journal tail (with a warning),
   * compacts everything into a fresh snapshot and opens an empty journal for appending.
   */
  static open(dir: string, storage: Storage, opts: JournalOptions): Journal {
    const snapPath = path.join(dir, SNAPSHOT_FILE);
    const journalPath = path.join(dir, JOURNAL_FILE);
    const snap = readRecords(snapPath);
    if (snap.damage) {
      // Snapshots are only ever renamed into place complete, so damage here is not a torn write.
      throw new Error(`embedded mongo: snapshot ${snapPath} is corrupt (${snap.damage}); refusing to start`);
    }
    let generation = 0;
    for (const rec of snap.records) {
      if (rec.o === 'h') generation = Number(rec.gen) || 0;
      else storage.applyRecord(rec);
    }
    const jr = readRecords(journalPath);
    if (jr.damage) {
      opts.logger.warn(
        {
          file: journalPath,
          damage: jr.damage,
          keptBytes: jr.validBytes,
          droppedBytes: jr.totalBytes - jr.validBytes,
        },
        'embedded mongo: cutting off torn journal tail (an unacknowledged write interrupted by a crash)',
      );
      fs.truncateSync(journalPath, jr.validBytes);
    }
    let replayed = 0;
    const head = jr.records[0];
    if (head && head.o === 'h' && Number(head.gen) === generation) {
      for (let i = 1; i < jr.records.length; i++) storage.applyRecord(jr.records[i]!);
      replayed = jr.records.length - 1;
    } else if (head && head.o === 'h' && Number(head.gen) < generation) {
      opts.logger.info(
        { journalGen: head.gen, snapshotGen: generation },
        'embedded mongo: journal already folded',
      );
    } else if (jr.records.length > 0) {
      throw new Error(
        `embedded mongo: journal ${journalPath} does not belong to snapshot generation ${generation}`,
      );
    }
    const journal = new Journal(dir, storage, opts, {
      fd: -1,
      generation,
      journalBytes: 0,
      snapshotBytes: 0,
    });
    journal.compactNow();
    opts.logger.debug(
      { dir, replayed, generation: journal.generation },
      'embedded mongo: data directory loaded',
    );
    return journal;
  }

  /** Records appended so far; a command that changes this must wait for durability. */
  get appendedCount(): number {
    return this.appended;
  }

  append(record: Doc): void {
    if (this.closed) throw new Error('embedded mongo: journal is closed');
    const buf = encodeRecord(record);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.appended++;
  }

  /** Resolves once everything appended so far is written (and synced, per policy). */
  waitDurable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const target = this.appended;
    if (target <= this.durable) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.concat(this.pending, this.pendingBytes);
        const upto = this.appended;
        this.pending = [];
        this.pendingBytes = 0;
        await writeFully(this.fd, batch);
        if (this.opts.fsync === 'always') await datasync(this.fd);
        else this.dirtySinceSync = true;
        this.journalBytes += batch.length;
        this.durable = upto;
        const still: Waiter[] = [];
        for (const w of this.waiters) {
          if (w.target <= upto) w.resolve();
          else still.push(w);
        }
        this.waiters = still;
      }
      if (this.journalBytes > Math.max(this.opts.compactAfterBytes, this.snapshotBytes)) this.compactNow();
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.opts.logger.error(
        { err: this.failure },
        'embedded mongo: journal write failed; writes will now fail',
      );
      for (const w of this.waiters) w.reject(this.failure);
      this.waiters = [];
    } finally {
      this.flushing = false;
    }
  }

  private periodicSync(): void {
    if (!this.dirtySinceSync || this.closed || this.fd < 0) return;
    this.dirtySinceSync = false;
    fs.fdatasync(this.fd, (err) => {
      if (err) this.opts.logger.error({ err }, 'embedded mongo: periodic journal fsync failed');
    });
  }

  /**
   * Folds the in-memory state into a new snapshot and starts an empty journal. Synchronous
   * on purpose: nothing can mutate storage meanwhile, so the snapshot is exactly the state
   * described by everything journaled so far. Only called with no pending records.
   */
  private compactNow(): void {
    const nextGen = this.generation + 1;
    const storage = this.storage;
    function* all(): Generator<Doc> {
      yield { o: 'h', gen: nextGen, kind: 'snapshot', v: 1 };
      for (const r of storage.snapshotRecords()) yield r as unknown as Doc;
    }
    const snapshotBytes = writeFramedFileAtomically(path.join(this.dir, SNAPSHOT_FILE), all());
    const journalPath = path.join(this.dir, JOURNAL_FILE);
    writeFramedFileAtomically(journalPath, [{ o: 'h', gen: nextGen, kind: 'journal', v: 1 }]);
    const fd = fs.openSync(journalPath, 'a');
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = fd;
    this.generation = nextGen;
    this.snapshotBytes = snapshotBytes;
    this.journalBytes = 0;
  }

  /** Flushes, syncs and closes. Pending writes are still made durable. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.waitDurable().catch(() => undefined);
    while (this.flushing) await new Promise((r) => setImmediate(r));
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.fd >= 0) {
      try {
        fs.fdatasyncSync(this.fd);
      } finally {
        fs.closeSync(this.fd);
        this.fd = -1;
      }
    }
  }
}

function writeFully(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) reject(err);
        else if (off + n < buf.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
