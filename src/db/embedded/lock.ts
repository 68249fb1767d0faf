import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { encodeMsgRequest, HEADER_SIZE } from './wire.js';

export const LOCK_FILE = 'mongod.lock';
export const SERVER_FILE = 'server.json';

/** Thrown when another live server owns the data directory; carries its URI to connect to. */
export class DataDirectoryInUseError extends Error {
  override name = 'DataDirectoryInUseError';
  constructor(
    readonly dbPath: string,
    readonly uri: string,
    readonly pid: number,
  ) {
    super(`data directory ${dbPath} is in use by embedded mongo pid ${pid} at ${uri}`);
  }
}

interface LockInfo {
  pid: number;
  startedAt: string;
}

interface ServerInfo {
  pid: number;
  uri: string;
}

/** Directories owned by servers in this very process (a pid check alone cannot tell). */
const ownedHere = new Set<string>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Sends an OP_MSG ping over raw TCP; true if a MongoDB-speaking server answers in time. */
export function probe(uri: string, timeoutMs = 1000): Promise<boolean> {
  const m = /^mongodb:\/\/([^/:?,]+):(\d+)/.exec(uri);
  if (!m) return Promise.resolve(false);
  return new Promise((resolve) => {
    const sock = net.connect({ host: m[1]!, port: Number(m[2]) });
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('connect', () => sock.write(encodeMsgRequest(1, { ping: 1, $db: 'admin' })));
    sock.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= HEADER_SIZE && got.length >= got.readInt32LE(0)) done(true);
    });
    sock.on('error', () => done(false));
  });
}

/** The URI of the server that owns `dbPath`, if one is running and answering. */
export async function runningServer(dbPath: string): Promise<ServerInfo | null> {
  const dir = path.resolve(dbPath);
  const lock = readJson<LockInfo>(path.join(dir, LOCK_FILE));
  const server = readJson<ServerInfo>(path.join(dir, SERVER_FILE));
  if (!lock || !server || lock.pid !== server.pid) return null;
  if (lock.pid === process.pid ? !ownedHere.has(dir) : !pidAlive(lock.pid)) return null;
  return (await probe(server.uri)) ? server : null;
}

export interface DirectoryLock {
  /** Publishes the URI for other local processes (after the server listens). */
  recordUri(uri: string): void;
  release(): void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Takes over a lock whose owner is gone. A mkdir-based mutex keeps two processes that both
 * saw the same stale lock from deleting each other's fresh one.
 */
function takeOver(lockPath: string, stalePid: number): void {
  const mutex = `${lockPath}.takeover`;
  try {
    fs.mkdirSync(mutex);
  } catch {
    try {
      if (Date.now() - fs.statSync(mutex).mtimeMs > 10_000) fs.rmdirSync(mutex);
    } catch {
      // Someone else removed it; retry from the top.
    }
    return;
  }
  try {
    const current = readJson<LockInfo>(lockPath);
    if (current === null || current.pid === stalePid) fs.rmSync(lockPath, { force: true });
  } finally {
    fs.rmdirSync(mutex);
  }
}

/**
 * Acquires `<dbPath>/mongod.lock`. If a live server holds it, throws DataDirectoryInUseError
 * with that server's URI (waiting up to `waitMs` for a starting server to publish it). A lock
 * left by a dead process — or by this pid without a server in this process, as after a
 * container restart — is taken over.
 */
export async function acquireLock(dbPath: string, waitMs = 15_000): Promise<DirectoryLock> {
  const dir = path.resolve(dbPath);
  fs.mkdirSync(dir, { recursive: true });
  const lockPath = path.join(dir, LOCK_FILE);
  const serverPath = path.join(dir, SERVER_FILE);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      ownedHere.add(dir);
      fs.rmSync(serverPath, { force: true });
      return {
        recordUri(uri: string) {
          const tmp = `${serverPath}.${process.pid}.tmp`;
          fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, uri }));
          fs.renameSync(tmp, serverPath);
        },
        release() {
          ownedHere.delete(dir);
          fs.rmSync(serverPath, { force: true });
          const cur = readJson<LockInfo>(lockPath);
          if (cur?.pid === process.pid) fs.rmSync(lockPath, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const lock = readJson<LockInfo>(lockPath);
    if (lock === null) {
      // Being written right now, or empty from a crash during creation.
      if (Date.now() > deadline) takeOver(lockPath, NaN);
      await sleep(20);
      continue;
    }
    const stale = lock.pid === process.pid ? !ownedHere.has(dir) : !pidAlive(lock.pid);
    if (stale) {
      takeOver(lockPath, lock.pid);
      continue;
    }
    const server = readJson<ServerInfo>(serverPath);
    if (server && server.pid === lock.pid && (await probe(server.uri))) {
      throw new DataDirectoryInUseError(dir, server.uri, lock.pid);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `embedded mongo: ${lockPath} is held by live process ${lock.pid}, which does not answer as a ` +
          `MongoDB server. Stop that process, or delete the lock file if it is not an embedded mongo server.`,
      );
    }
    await sleep(100);
  }
}
