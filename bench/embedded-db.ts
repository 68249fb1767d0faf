/**
 * npm run bench:embedded-db [-- --ops 5000 --concurrency 1 --journal]
 *
 * Ops/s through mongoose against the embedded server for insert, findOne by _id, findOne by a
 * unique field, $inc updates and `_id`-range batches (the broadcast queue's `_id > last`, sorted,
 * limit 500), with 10k and 100k documents already in the collection.
 * Target: indexed lookups ≥ 3,000 ops/s and no more than 1.5× slower at 100k than at 10k.
 * --journal runs against a temporary data directory (fsync 'always'), otherwise in memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mongoose, { Schema, type Types } from 'mongoose';
import { pino } from 'pino';
import { ObjectId } from 'bson';
import { runCommand } from '../src/db/embedded/commands/index.js';
import { CursorRegistry } from '../src/db/embedded/cursors.js';
import { startEmbeddedMongo } from '../src/db/embedded/index.js';
import { Storage } from '../src/db/embedded/storage.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '1' },
    journal: { type: 'boolean', default: false },
    uri: { type: 'string' },
    sizes: { type: 'string', default: '10000,100000' },
  },
});
const OPS = Number(values.ops);
const CONCURRENCY = Number(values.concurrency);
const SIZES = values.sizes.split(',').map(Number);

interface UserDoc {
  email: string;
  name: string;
  visits: number;
  createdAt: Date;
}

async function timeOps(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        await op(i);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return Math.round(n / seconds);
}

async function benchSize(uri: string, size: number): Promise<Record<string, number>> {
  const conn = await mongoose.createConnection(uri, { dbName: `bench_${size}`, maxPoolSize: 20 }).asPromise();
  const User = conn.model<UserDoc>(
    'User',
    new Schema<UserDoc>({
      email: { type: String, required: true, unique: true },
      name: String,
      visits: { type: Number, default: 0 },
      createdAt: { type: Date, default: () => new Date() },
    }),
  );
  await User.init();
  for (let i = 0; i < size; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, size - i) }, (_, j) => ({
      email: `user${i + j}@example.com`,
      name: `User ${i + j}`,
    }));
    await User.insertMany(batch, { lean: true });
  }
  const ids = (await User.find({}, { _id: 1 }).lean()).map((d) => d._id as Types.ObjectId);
  const rnd = (i: number) => (i * 7919) % size;

  // Warm the JIT on both sides (client and server share this process) before timing.
  for (let i = 0; i < 2000; i++) {
    await User.findById(ids[rnd(i)]).lean();
    await User.findOne({ email: `user${rnd(i)}@example.com` }).lean();
    await User.updateOne({ _id: ids[rnd(i)] }, { $inc: { visits: 0 } });
  }
  const results: Record<string, number> = {};
  // Baseline: a round trip with no server work, i.e. the ceiling the driver allows here.
  const admin = conn.db!.admin();
  results['ping (baseline)'] = await timeOps(OPS, () => admin.ping());
  results['insert'] = await timeOps(OPS, (i) => User.create({ email: `new${i}@example.com`, name: 'new' }));
  results['findOne by _id'] = await timeOps(OPS, (i) => User.findById(ids[rnd(i)]).lean());
  results['findOne by unique field'] = await timeOps(OPS, (i) =>
    User.findOne({ email: `user${rnd(i)}@example.com` }).lean(),
  );
  results['$inc update by _id'] = await timeOps(OPS, (i) =>
    User.updateOne({ _id: ids[rnd(i)] }, { $inc: { visits: 1 } }),
  );
  results['conditional findOneAndUpdate'] = await timeOps(OPS, (i) =>
    User.findOneAndUpdate(
      { email: `user${rnd(i)}@example.com`, visits: { $lt: 1_000_000 } },
      { $inc: { visits: 1 } },
      { returnDocument: 'after' },
    ).lean(),
  );
  // Keyset pagination as the broadcast queue does it: each op is one batch of 500 after a position.
  const sorted = [...ids].sort((a, b) => (a.toHexString() < b.toHexString() ? -1 : 1));
  const batches = Math.max(50, Math.round(OPS / 25));
  results['range batch: _id > last, sort, limit 500'] = await timeOps(batches, (i) =>
    User.find({ _id: { $gt: sorted[(i * 500) % size] }, visits: { $gte: 0 } }, { email: 1 })
      .sort({ _id: 1 })
      .limit(500)
      .lean(),
  );
  results['first 10 by _id (sort, no bound)'] = await timeOps(batches, () =>
    User.find({}, { email: 1 }).sort({ _id: 1 }).limit(10).lean(),
  );
  await conn.dropDatabase();
  await conn.close();
  return results;
}

/**
 * The server's own work per command (no socket, no driver, no mongoose): shows what the
 * storage and indexes cost, independently of client overhead and machine load.
 */
function serverOnly(size: number): Record<string, number> {
  const storage = new Storage();
  const coll = storage.ensureCollection('bench', 'users');
  storage.createIndex(coll, { key: { email: 1 }, unique: true });
  const ids: ObjectId[] = [];
  for (let i = 0; i < size; i++) {
    const _id = new ObjectId();
    ids.push(_id);
    storage.insert(coll, {
      _id,
      email: `user${i}@example.com`,
      name: `User ${i}`,
      visits: 0,
      createdAt: new Date(),
    });
  }
  const ctx = {
    db: 'bench',
    storage,
    cursors: new CursorRegistry(60_000),
    connectionId: 0,
    stats: {
      startedAt: Date.now(),
      connectionsCurrent: 0,
      connectionsTotal: 0,
      opcounters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
    },
    logger: pino({ level: 'silent' }),
  };
  // Fans of one Page, as the broadcast queue reads them: the (pageId, psid) index matches them all.
  const fans = storage.ensureCollection('bench', 'fans');
  storage.createIndex(fans, { key: { pageId: 1, psid: 1 }, unique: true });
  const fanIds: ObjectId[] = [];
  for (let i = 0; i < size; i++) {
    const _id = new ObjectId();
    fanIds.push(_id);
    storage.insert(fans, { _id, pageId: 'p1', psid: `s${i}`, locale: 'it', reachable: true, tags: [] });
  }
  const rnd = (i: number) => (i * 7919) % size;
  const time = (make: (i: number) => Record<string, unknown>, n = 50_000): number => {
    for (let i = 0; i < n / 10; i++) runCommand(make(i), ctx); // warm-up
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) runCommand(make(i), ctx);
    return Math.round(n / (Number(process.hrtime.bigint() - t) / 1e9));
  };
  return {
    'server-only: insert': time((i) => ({
      insert: 'users',
      documents: [{ _id: new ObjectId(), email: `x${i}-${Math.random()}@e.com`, visits: 0 }],
    })),
    'server-only: find by _id': time((i) => ({
      find: 'users',
      filter: { _id: ids[rnd(i)] },
      limit: 1,
      singleBatch: true,
    })),
    'server-only: find by unique field': time((i) => ({
      find: 'users',
      filter: { email: `user${rnd(i)}@example.com` },
      limit: 1,
      singleBatch: true,
    })),
    'server-only: $inc by _id': time((i) => ({
      update: 'users',
      updates: [{ q: { _id: ids[rnd(i)] }, u: { $inc: { visits: 1 } } }],
    })),
    'server-only: conditional findAndModify': time((i) => ({
      findAndModify: 'users',
      query: { email: `user${rnd(i)}@example.com`, visits: { $lt: 1_000_000 } },
      update: { $inc: { visits: 1 } },
      new: true,
    })),
    'server-only: fans batch of 500 after _id': time(
      (i) => ({
        find: 'fans',
        filter: { $and: [{ pageId: 'p1', reachable: true }, { _id: { $gt: fanIds[(i * 500) % size] } }] },
        sort: { _id: 1 },
        projection: { psid: 1, locale: 1 },
        limit: 500,
      }),
      200,
    ),
  };
}

const dbPath = values.journal ? fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-bench-')) : undefined;
// --uri benches a server in another process (e.g. `npm run db -- --memory`), so client and
// server do not share one event loop.
const server = values.uri ? null : await startEmbeddedMongo({ dbPath, logger: pino({ level: 'warn' }) });
const uri = values.uri ?? server!.uri;
try {
  const where = values.uri
    ? `server at ${values.uri}`
    : dbPath
      ? `in-process, journal in ${dbPath} (fsync always)`
      : 'in-process, in memory';
  console.log(
    `embedded-db bench: ${OPS} ops per figure, concurrency ${CONCURRENCY}, ${where}, node ${process.version}, ` +
      `${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const table: Record<string, Record<string, number>> = {};
  for (const size of SIZES) {
    const r = { ...(await benchSize(uri, size)), ...(values.uri ? {} : serverOnly(size)) };
    for (const [op, v] of Object.entries(r)) (table[op] ??= {})[`${size / 1000}k docs`] = v;
  }
  const cols = SIZES.map((s) => `${s / 1000}k docs`);
  console.log(['operation (ops/s)'.padEnd(40), ...cols.map((c) => c.padStart(12)), '  ratio'].join(''));
  for (const [op, row] of Object.entries(table)) {
    const first = row[cols[0]!]!;
    const last = row[cols[cols.length - 1]!]!;
    const ratio = (first / last).toFixed(2);
    console.log([op.padEnd(40), ...cols.map((c) => String(row[c]).padStart(12)), `  ${ratio}×`].join(''));
  }
} finally {
  await server?.stop();
  if (dbPath) fs.rmSync(dbPath, { recursive: true, force: true });
}
