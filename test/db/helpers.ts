/**
 * Which MongoDB the tests talk to. By default an in-memory embedded server shared by the
 * whole test process (started on first use, stopped at exit); with MONGODB_TEST_URI set, that
 * real server. Every call gets its own database, so suites never see each other's data.
 *
 *   const mongo = await startTestMongo();
 *   const conn = await mongoose.createConnection(mongo.uri).asPromise();
 *   ...
 *   await conn.close(); await mongo.stop(); // drops the test database
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';

export interface TestMongo {
  /** Connection string including the test database name. */
  uri: string;
  dbName: string;
  /** True when talking to the embedded server (server-internal tests only run then). */
  embedded: boolean;
  /** Drops the test database. The shared server itself keeps running for other suites. */
  stop(): Promise<void>;
}

/** Set MONGODB_TEST_URI to run the same suites against a real MongoDB. */
export const realMongoUri: string | undefined = process.env.MONGODB_TEST_URI || undefined;
export const usingRealMongo = realMongoUri !== undefined;

let shared: Promise<EmbeddedMongo> | null = null;
let counter = 0;

/** The shared in-memory server (tests that need server internals, e.g. the TTL sweep). */
export function sharedEmbeddedServer(): Promise<EmbeddedMongo> {
  shared ??= startEmbeddedMongo({
    logger: pino({ level: process.env.EMBEDDED_MONGO_LOG_LEVEL ?? 'silent' }),
  });
  return shared;
}

/** Puts `dbName` into the path of a mongodb:// or mongodb+srv:// URI, keeping its options. */
export function withDbName(uri: string, dbName: string): string {
  const scheme = uri.indexOf('://');
  const hostsStart = scheme < 0 ? 0 : scheme + 3;
  const slash = uri.indexOf('/', hostsStart);
  const query = uri.indexOf('?', hostsStart);
  const hostsEnd = slash >= 0 ? slash : query >= 0 ? query : uri.length;
  const options = query >= 0 ? uri.slice(query) : '';
  return `${uri.slice(0, hostsEnd)}/${dbName}${options}`;
}

export async function startTestMongo(): Promise<TestMongo> {
  const dbName = `test_${process.pid}_${++counter}_${randomBytes(3).toString('hex')}`;
  const base = realMongoUri ?? (await sharedEmbeddedServer()).uri;
  const uri = withDbName(base, dbName);
  return {
    uri,
    dbName,
    embedded: !usingRealMongo,
    async stop() {
      const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
      try {
        await client.connect();
        await client.db(dbName).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}
