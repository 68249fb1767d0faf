import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import {
  DataDirectoryInUseError,
  startEmbeddedMongo,
  type EmbeddedMongoOptions,
  type LocalMongo,
} from './index.js';

/**
 * The embedded server on its own thread. In one process with the bot it would share the bot's event
 * loop, so every webhook ack would wait behind database work; on a thread it uses the second core.
 * Writes are still journalled before the reply, and a kill -9 still kills both together.
 */
export interface ThreadedMongoOptions extends Omit<EmbeddedMongoOptions, 'logger'> {
  dbPath: string;
  logLevel?: string;
}

type Reply =
  | { type: 'ready'; uri: string }
  | { type: 'in-use'; uri: string }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

export async function resolveLocalMongoInThread(options: ThreadedMongoOptions): Promise<LocalMongo> {
  const self = new URL(import.meta.url);
  // Run from TypeScript sources (tsx), the thread must register the same loader before importing us.
  const worker = self.pathname.endsWith('.ts')
    ? new Worker(
        `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(self.href)}); });`,
        { eval: true, workerData: options },
      )
    : new Worker(self, { workerData: options });
  const first = await new Promise<Reply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`embedded database thread exited with code ${code}`)));
  });
  if (first.type === 'error') throw new Error(first.message);
  if (first.type === 'in-use') {
    await worker.terminate();
    return { uri: first.uri, owned: false, stop: async () => undefined };
  }
  if (first.type !== 'ready') throw new Error('embedded database thread did not start');
  // The bot may exit without stopping the database (a crash): the thread must not keep it alive.
  worker.unref();
  return {
    uri: first.uri,
    owned: true,
    async stop() {
      const stopped = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // Keep this process alive until the journal is closed, or a top-level await would be cut short.
      worker.ref();
      worker.postMessage({ type: 'stop' });
      await stopped;
    },
  };
}

async function serve(): Promise<void> {
  const options = workerData as ThreadedMongoOptions;
  const port = parentPort;
  if (!port) return;
  const { logLevel, ...rest } = options;
  const logger = pino({ level: logLevel ?? 'info', base: { thread: 'embedded-db' } }, pino.destination(2));
  try {
    const server = await startEmbeddedMongo({ ...rest, logger });
    port.on('message', (message: { type?: string }) => {
      if (message.type !== 'stop') return;
      void server.stop().finally(() => {
        port.postMessage({ type: 'stopped' } satisfies Reply);
        process.exit(0);
      });
    });
    port.postMessage({ type: 'ready', uri: server.uri } satisfies Reply);
  } catch (error) {
    if (error instanceof DataDirectoryInUseError) {
      port.postMessage({ type: 'in-use', uri: error.uri } satisfies Reply);
      return;
    }
    port.postMessage({
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
    } satisfies Reply);
  }
}

if (!isMainThread && (workerData as { dbPath?: unknown } | null)?.dbPath !== undefined) void serve();
