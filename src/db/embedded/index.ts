import path from 'node:path';
import { pino, type Logger } from 'pino';
import { Journal, type FsyncPolicy } from './journal.js';
import { acquireLock, DataDirectoryInUseError, type DirectoryLock } from './lock.js';
import { WireServer } from './server.js';
import { Storage } from './storage.js';
import { MAX_MESSAGE_SIZE } from './wire.js';

export { DataDirectoryInUseError } from './lock.js';
export type { FsyncPolicy } from './journal.js';

export interface EmbeddedMongoOptions {
  /** Data directory. Omit for a purely in-memory server (tests). */
  dbPath?: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  logger?: Logger;
  /** See FsyncPolicy in journal.ts. Default 'always'. */
  fsync?: FsyncPolicy;
  /** For fsync 'interval'. Default 100 ms. */
  fsyncIntervalMs?: number;
  /** How often expired TTL documents are deleted. Default 5 s (mongod: 60 s). */
  ttlIntervalMs?: number;
  /** Idle cursors are forgotten after this long. Default 10 min, as mongod. */
  cursorTimeoutMs?: number;
  /** Larger frames close the connection. Default 48 MB, as mongod. */
  maxMessageBytes?: number;
  /** The journal is folded into a new snapshot beyond this size. Default 64 MiB. */
  compactAfterBytes?: number;
}

export interface EmbeddedMongo {
  /** `mongodb://127.0.0.1:<port>` — append a database name or pass `dbName` to the client. */
  uri: string;
  port: number;
  stop(): Promise<void>;
  /** Runs the TTL monitor now (tests); returns the number of documents deleted. */
  sweepTtl(): number;
}

export interface LocalMongo {
  uri: string;
  /** True when this process started the server (and its stop() really stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

function defaultLogger(): Logger {
  return pino({ level: process.env.EMBEDDED_MONGO_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

/**
 * Starts an embedded MongoDB-compatible server. With `dbPath`, data is journaled there and
 * the directory is locked; if another live server already owns it this rejects with
 * DataDirectoryInUseError (whose `uri` is that server's; see resolveLocalMongo).
 */
export async function startEmbeddedMongo(options: EmbeddedMongoOptions = {}): Promise<EmbeddedMongo> {
  const logger = options.logger ?? defaultLogger();
  const storage = new Storage();
  let lock: DirectoryLock | null = null;
  let journal: Journal | null = null;
  const dbPath = options.dbPath ? path.resolve(options.dbPath) : null;
  if (dbPath) {
    lock = await acquireLock(dbPath);
    try {
      journal = Journal.open(dbPath, storage, {
        fsync: options.fsync ?? 'always',
        fsyncIntervalMs: options.fsyncIntervalMs ?? 100,
        compactAfterBytes: options.compactAfterBytes ?? 64 * 1024 * 1024,
        logger,
      });
      storage.journal = journal;
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  const server = new WireServer({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    logger,
    storage,
    journal,
    maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_SIZE,
    cursorTimeoutMs: options.cursorTimeoutMs ?? 10 * 60_000,
    ttlIntervalMs: options.ttlIntervalMs ?? 5_000,
  });
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    await journal?.close();
    lock?.release();
    throw err;
  }
  const host = options.host ?? '127.0.0.1';
  const uri = `mongodb://${host}:${port}`;
  lock?.recordUri(uri);
  logger.debug({ uri, dbPath }, 'embedded mongo: listening');
  let stopped: Promise<void> | null = null;
  return {
    uri,
    port,
    sweepTtl: () => server.sweepTtl(),
    stop() {
      stopped ??= (async () => {
        await server.close();
        await journal?.close();
        lock?.release();
      })();
      return stopped;
    },
  };
}

/**
 * The local server for a data directory: connects to the one already serving it (another
 * process such as `npm run db` or the web role), or starts one in this process. A stale lock
 * left by a dead process is taken over.
 */
export async function resolveLocalMongo(
  options: EmbeddedMongoOptions & { dbPath: string },
): Promise<LocalMongo> {
  try {
    const server = await startEmbeddedMongo(options);
    return { uri: server.uri, owned: true, stop: () => server.stop() };
  } catch (err) {
    if (err instanceof DataDirectoryInUseError) {
      return { uri: err.uri, owned: false, stop: async () => undefined };
    }
    throw err;
  }
}

/**
 * What the app calls at boot: MONGODB_URI when set, otherwise the embedded server on
 * EMBEDDED_MONGO_DIR (default ./data), announced in one log line.
 */
export async function resolveMongoUri(
  options: { env?: NodeJS.ProcessEnv; logger?: Logger } = {},
): Promise<LocalMongo & { embedded: boolean }> {
  const env = options.env ?? process.env;
  if (env.MONGODB_URI)
    return { uri: env.MONGODB_URI, owned: false, embedded: false, stop: async () => undefined };
  const logger = options.logger ?? defaultLogger();
  const dbPath = path.resolve(env.EMBEDDED_MONGO_DIR ?? './data');
  const local = await resolveLocalMongo({ dbPath, logger });
  logger.info(
    { uri: local.uri, dbPath, owned: local.owned },
    local.owned
      ? `MONGODB_URI is unset: using the embedded MongoDB server at ${local.uri} (data in ${dbPath})`
      : `MONGODB_URI is unset: using the embedded MongoDB server already running at ${local.uri} (data in ${dbPath})`,
  );
  return { ...local, embedded: true };
}
