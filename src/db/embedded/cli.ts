/**
 * `npm run db [-- --dbpath ./data --port 27017 --fsync always|interval|never]`
 * Serves the embedded MongoDB on 127.0.0.1 until SIGINT/SIGTERM and prints its URI on stdout.
 * If a server already owns the directory, prints that server's URI instead and exits.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DataDirectoryInUseError, startEmbeddedMongo, type FsyncPolicy } from './index.js';

const { values } = parseArgs({
  options: {
    dbpath: { type: 'string', default: process.env.EMBEDDED_MONGO_DIR ?? './data' },
    port: { type: 'string', default: process.env.EMBEDDED_MONGO_PORT ?? '0' },
    fsync: { type: 'string', default: 'always' },
    memory: { type: 'boolean', default: false },
  },
});

const fsync = values.fsync as FsyncPolicy;
if (!['always', 'interval', 'never'].includes(fsync)) {
  console.error(`--fsync must be always, interval or never (got ${fsync})`);
  process.exit(2);
}

const logger = pino({ level: process.env.EMBEDDED_MONGO_LOG_LEVEL ?? 'info' }, pino.destination(2));

try {
  const server = await startEmbeddedMongo({
    dbPath: values.memory ? undefined : values.dbpath,
    port: Number(values.port),
    fsync,
    logger,
  });
  console.log(server.uri);
  logger.info(
    { uri: server.uri, dbPath: values.memory ? null : values.dbpath, fsync },
    'embedded mongo: serving until stopped (Ctrl-C)',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'embedded mongo: stopping');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'embedded mongo: error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (err) {
  if (err instanceof DataDirectoryInUseError) {
    console.log(err.uri);
    logger.info(
      { uri: err.uri, ownerPid: err.pid },
      'embedded mongo: already running for this data directory',
    );
    process.exit(0);
  }
  logger.error({ err }, 'embedded mongo: could not start');
  process.exit(1);
}
