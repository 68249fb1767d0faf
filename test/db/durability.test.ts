import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import {
  DataDirectoryInUseError,
  resolveLocalMongo,
  resolveMongoUri,
  startEmbeddedMongo,
} from '../../src/db/embedded/index.js';
import { JOURNAL_FILE } from '../../src/db/embedded/journal.js';
import { usingRealMongo } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const silent = pino({ level: 'silent' });

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mongo-test-'));
}

/** A pino logger whose records land in an array, to assert on warnings. */
function capturingLogger(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function spawnTsx(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects stdout lines; resolves when `until` returns true for the lines so far. */
function readLines(child: ChildProcess, until: (lines: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      if (until(lines)) resolve(lines);
    });
    child.on('exit', (code, signal) => {
      if (!until(lines)) reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
    });
  });
}

async function withClient<T>(uri: string, fn: (c: MongoClient) => Promise<T>): Promise<T> {
  const client = await new MongoClient(uri, { serverSelectionTimeoutMS: 5000 }).connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

(usingRealMongo ? describe.skip : describe)('embedded server: durability and the data directory', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };

  it('keeps every acknowledged write after kill -9 mid-stream', async function () {
    this.timeout(60_000);
    const dbPath = dir();
    const child = spawnTsx(path.join(here, 'fixtures/durable-writer.ts'), [dbPath]);
    let acked: string[] = [];
    try {
      acked = await readLines(child, (lines) => lines.filter((l) => l !== 'READY').length >= 400);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    // lines read after the kill are acknowledged too; read what is already buffered
    const ids = acked.filter((l) => l && l !== 'READY');
    expect(ids.length).to.be.greaterThanOrEqual(400);

    const server = await startEmbeddedMongo({ dbPath, logger: silent });
    try {
      await withClient(server.uri, async (c) => {
        const coll = c.db('durable').collection<{ _id: string }>('writes');
        const found = new Set((await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
        const missing = ids.filter((id) => !found.has(id));
        expect(missing, `missing acknowledged ids`).to.deep.equal([]);
        // the unique index survived too
        const indexes = (await coll.listIndexes().toArray()).map((i) => i.name as string);
        expect(indexes).to.include('n_1');
      });
    } finally {
      await server.stop();
    }
  });

  it('folds a growing journal into a new snapshot while running, losing nothing', async () => {
    const dbPath = dir();
    let server = await startEmbeddedMongo({
      dbPath,
      logger: silent,
      compactAfterBytes: 4096,
      fsync: 'never',
    });
    await withClient(server.uri, async (c) => {
      const coll = c.db('compact').collection('docs');
      await coll.createIndex({ k: 1 }, { unique: true });
      for (let i = 0; i < 300; i++) await coll.insertOne({ k: i, pad: 'y'.repeat(100) });
      await coll.deleteMany({ k: { $lt: 100 } });
      await coll.updateMany({}, { $inc: { k: 1000 } });
    });
    expect(fs.statSync(path.join(dbPath, JOURNAL_FILE)).size).to.be.lessThan(64 * 1024);
    await server.stop();
    server = await startEmbeddedMongo({ dbPath, logger: silent, fsync: 'interval', fsyncIntervalMs: 10 });
    try {
      await withClient(server.uri, async (c) => {
        const coll = c.db('compact').collection('docs');
        expect(await coll.countDocuments()).to.equal(200);
        expect(await coll.countDocuments({ k: { $gte: 1100, $lt: 1300 } })).to.equal(200);
        const err = (await coll.insertOne({ k: 1100 }).catch((e: unknown) => e)) as { code: number };
        expect(err.code).to.equal(11000);
      });
    } finally {
      await server.stop();
    }
  });

  it('cuts off a torn journal tail with a warning and keeps everything before it', async () => {
    const dbPath = dir();
    let server = await startEmbeddedMongo({ dbPath, logger: silent });
    await withClient(server.uri, async (c) => {
      const coll = c.db('torn').collection('docs');
      for (let i = 0; i < 10; i++) await coll.insertOne({ i });
    });
    await server.stop();
    const journal = path.join(dbPath, JOURNAL_FILE);
    const size = fs.statSync(journal).size;
    fs.truncateSync(journal, size - 5); // the last insert's record is now torn

    const { logger, lines } = capturingLogger();
    server = await startEmbeddedMongo({ dbPath, logger });
    try {
      expect(lines.some((l) => l.level === 40 && /torn journal tail/.test(l.msg))).to.equal(true);
      await withClient(server.uri, async (c) => {
        const docs = await c.db('torn').collection('docs').find().sort({ i: 1 }).toArray();
        expect(docs.map((d) => d.i as number)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        await c.db('torn').collection('docs').insertOne({ i: 99 });
      });
    } finally {
      await server.stop();
    }
    // garbage appended after intact records is cut as well, nothing intact is lost
    fs.appendFileSync(journal, Buffer.from([0xff, 0xff, 0x00, 0x10, 0x01, 0x02]));
    server = await startEmbeddedMongo({ dbPath, logger: silent });
    try {
      await withClient(server.uri, async (c) => {
        expect(await c.db('torn').collection('docs').countDocuments()).to.equal(10);
      });
    } finally {
      await server.stop();
    }
  });

  it('locks the data directory and points a second opener at the running server', async () => {
    const dbPath = dir();
    const first = await startEmbeddedMongo({ dbPath, logger: silent });
    try {
      let err: unknown;
      try {
        await startEmbeddedMongo({ dbPath, logger: silent });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(DataDirectoryInUseError);
      expect((err as DataDirectoryInUseError).uri).to.equal(first.uri);
      const local = await resolveLocalMongo({ dbPath, logger: silent });
      expect(local.owned).to.equal(false);
      expect(local.uri).to.equal(first.uri);
      await local.stop(); // a no-op for a server we do not own
      await withClient(local.uri, async (c) => {
        await c.db('lock').collection('x').insertOne({ ok: true });
      });
    } finally {
      await first.stop();
    }
    const again = await resolveLocalMongo({ dbPath, logger: silent });
    try {
      expect(again.owned).to.equal(true);
      await withClient(again.uri, async (c) => {
        expect(await c.db('lock').collection('x').countDocuments()).to.equal(1);
      });
    } finally {
      await again.stop();
    }
  });

  it('lets another process use the running server, and takes over the lock once it is killed', async function () {
    this.timeout(60_000);
    const dbPath = dir();
    const child = spawnTsx(path.join(repoRoot, 'src/db/embedded/cli.ts'), ['--dbpath', dbPath]);
    try {
      const [uri] = await readLines(child, (lines) => lines.length >= 1);
      expect(uri).to.match(/^mongodb:\/\/127\.0\.0\.1:\d+$/);
      const local = await resolveLocalMongo({ dbPath, logger: silent });
      expect(local.owned).to.equal(false);
      expect(local.uri).to.equal(uri);
      await withClient(local.uri, async (c) => {
        await c.db('shared').collection('x').insertOne({ from: 'parent' });
      });
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    const taken = await resolveLocalMongo({ dbPath, logger: silent });
    try {
      expect(taken.owned).to.equal(true);
      await withClient(taken.uri, async (c) => {
        expect(await c.db('shared').collection('x').countDocuments({ from: 'parent' })).to.equal(1);
      });
    } finally {
      await taken.stop();
    }
  });

  it('is what the app uses when MONGODB_URI is unset, announced in one log line', async () => {
    const dbPath = dir();
    const { logger, lines } = capturingLogger();
    const external = await resolveMongoUri({
      env: { MONGODB_URI: 'mongodb://db.example:27017/app' },
      logger,
    });
    expect(external).to.include({ uri: 'mongodb://db.example:27017/app', embedded: false });
    expect(lines).to.have.length(0);
    const local = await resolveMongoUri({ env: { EMBEDDED_MONGO_DIR: dbPath }, logger });
    try {
      expect(local.embedded).to.equal(true);
      expect(local.owned).to.equal(true);
      expect(lines).to.have.length(1);
      expect(lines[0]!.msg).to.match(
        /MONGODB_URI is unset: using the embedded MongoDB server at mongodb:\/\/127\.0\.0\.1:\d+/,
      );
    } finally {
      await local.stop();
    }
  });
});
