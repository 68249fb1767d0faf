/**
 * npm run bench:embedded-db [-- --ops 5000 --concurrency 1 --journal]
 *
 * Ops/s through mongoose against the embedded server for insert, findOne by _id, findOne by a
 * unique field, and $inc updates, with 10k and 100k documents already in the collection.
 * Target: indexed lookups ≥ 3,000 ops/s and no more than 1.5× slower at 100k than at 10k.
 * --journal runs against a temporary data directory (fsync 'always'), otherwise in memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mongoose, { Schema, type Types } from 'mongoose';
import { pino } from 'pino';
import { startEmbeddedMongo } from '../src/db/embedded/index.js';

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
  await conn.dropDatabase();
  await conn.close();
  return results;
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
    const r = await benchSize(uri, size);
    for (const [op, v] of Object.entries(r)) (table[op] ??= {})[`${size / 1000}k docs`] = v;
  }
  const cols = SIZES.map((s) => `${s / 1000}k docs`);
  console.log(['operation (ops/s)'.padEnd(30), ...cols.map((c) => c.padStart(12)), '  ratio'].join(''));
  for (const [op, row] of Object.entries(table)) {
    const first = row[cols[0]!]!;
    const last = row[cols[cols.length - 1]!]!;
    const ratio = (first / last).toFixed(2);
    console.log([op.padEnd(30), ...cols.map((c) => String(row[c]).padStart(12)), `  ${ratio}×`].join(''));
  }
} finally {
  await server?.stop();
  if (dbPath) fs.rmSync(dbPath, { recursive: true, force: true });
}
