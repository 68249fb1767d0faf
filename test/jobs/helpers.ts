/**
 * Shared pieces for the job tests: a simulator config, a fake Graph API on its own port with a
 * GraphClient pointed at it, and a logger that keeps every line so alerts can be asserted.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { GraphClient } from '../../src/messenger/graph/client.js';
import '../../src/db/models/job-run.js';
import '../../src/db/models/page-health.js';
import '../../src/db/models/deletion-request.js';
import '../../src/db/models/cart.js';
import '../../src/db/models/audit-entry.js';

export interface CapturingLogger {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

/** A pino logger at trace level whose lines are parsed into `lines`. */
export function capturingLogger(): CapturingLogger {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { log: pino({ level: 'trace' }, stream), lines };
}

export interface GraphFixture {
  readonly config: Config;
  readonly fakeGraph: FakeGraph;
  readonly graph: GraphClient;
  close(): Promise<void>;
}

export async function startGraphFixture(env: Record<string, string> = {}): Promise<GraphFixture> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const fakeGraph = createFakeGraph({
    appSecret: config.facebook.appSecret,
    pages: [
      {
        id: config.facebook.page.id,
        name: config.facebook.page.name,
        accessToken: config.facebook.page.accessToken,
      },
    ],
  });
  const server: FakeGraphServer = await fakeGraph.listen(0);
  const graph = new GraphClient({
    baseUrl: server.url,
    version: config.graph.version,
    appSecret: config.facebook.appSecret,
  });
  return {
    config,
    fakeGraph,
    graph,
    async close() {
      graph.close();
      await server.close();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
