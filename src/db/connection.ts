import mongoose from 'mongoose';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { resolveLocalMongoInThread } from './embedded/thread.js';

export interface DatabaseHandle {
  readonly uri: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects mongoose to MONGODB_URI, or — when it is unset — to the embedded server that owns `dataDir`
 * (starting it if no other local process already runs it).
 */
export async function connectDatabase(
  config: Pick<Config, 'mongodbUri' | 'dataDir'>,
  log: Logger,
): Promise<DatabaseHandle> {
  let uri = config.mongodbUri;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!uri) {
    const local = await resolveLocalMongoInThread({ dbPath: config.dataDir, logLevel: log.level });
    uri = local.uri;
    stopEmbedded = local.owned ? () => local.stop() : undefined;
    log.info(
      { uri, dataDir: config.dataDir, owned: local.owned },
      local.owned
        ? 'MONGODB_URI is unset: using the embedded MongoDB-compatible server'
        : 'MONGODB_URI is unset: connected to the embedded server already running for this data directory',
    );
  }
  watchConnection(log);
  // The embedded server's URI names no database; a real MONGODB_URI usually does.
  await mongoose.connect(uri, {
    serverSelectionTimeoutMS: 10_000,
    // The monitor's heartbeat is what notices a database that came back while every operation was
    // failing; at the default 10 s the fault suite saw the client stay away for 30 s and more.
    heartbeatFrequencyMS: 2_000,
    ...(config.mongodbUri ? {} : { dbName: 'socialcommerce' }),
  });
  // The unique indexes carry our invariants (dedupe, idempotency): they must exist before traffic.
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  return {
    uri,
    embedded: !config.mongodbUri,
    async close() {
      closing = true;
      await mongoose.disconnect();
      await stopEmbedded?.();
    },
  };
}

let watching = false;
/** A deliberate disconnect (shutdown) is not the database going away. */
let closing = false;

/**
 * One line when the database goes away and one when it is back: while it is away webhooks answer
 * 503, turns are retried and sends wait, and the operator should see why. The driver reconnects by
 * itself (it keeps monitoring the server); nothing here needs restarting.
 */
function watchConnection(log: Logger): void {
  if (watching) return;
  watching = true;
  let lostAt: number | undefined;
  mongoose.connection.on('disconnected', () => {
    if (closing) return;
    lostAt ??= Date.now();
    log.error('database connection lost: webhooks answer 503 and work waits until it is back');
  });
  mongoose.connection.on('reconnected', () => {
    log.warn({ awayMs: lostAt === undefined ? undefined : Date.now() - lostAt }, 'database connection back');
    lostAt = undefined;
  });
}

const UNAVAILABLE_ERRORS = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoPoolClearedError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
]);

/**
 * Whether `error` says the database could not be reached (rather than refused an operation): the
 * work should be retried later as it was, not answered with an apology or recorded as failed.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { name, message, code } = e as { name?: unknown; message?: unknown; code?: unknown };
    if (typeof name === 'string' && UNAVAILABLE_ERRORS.has(name)) return true;
    // mongoose queues operations while disconnected and gives up with this error.
    if (name === 'MongooseError' && typeof message === 'string' && message.includes('buffering timed out'))
      return true;
    // The socket closed under a write before the driver noticed (a plain Node error).
    if (code === 'EPIPE' || code === 'ECONNRESET') return true;
    e =
      (e as { cause?: unknown; errorResponse?: unknown }).cause ??
      (e as { errorResponse?: unknown }).errorResponse;
  }
  return false;
}
