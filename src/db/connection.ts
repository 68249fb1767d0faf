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
  // The embedded server's URI names no database; a real MONGODB_URI usually does.
  await mongoose.connect(uri, {
    serverSelectionTimeoutMS: 10_000,
    ...(config.mongodbUri ? {} : { dbName: 'socialcommerce' }),
  });
  // The unique indexes carry our invariants (dedupe, idempotency): they must exist before traffic.
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  return {
    uri,
    embedded: !config.mongodbUri,
    async close() {
      await mongoose.disconnect();
      await stopEmbedded?.();
    },
  };
}
