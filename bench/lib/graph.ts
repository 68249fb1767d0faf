/**
 * The fake Graph API for benchmarks, served from the load generator's process with one extra
 * middleware in front: it stamps each Send API call with performance.now() on arrival, on the same
 * clock as the load generator's send times.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { createFakeGraph, type FakeGraph } from '../../src/dev/fake-graph/index.js';

export interface SendArrival {
  /** performance.now() when the request reached the fake (before its simulated latency). */
  readonly at: number;
  readonly psid: string;
  /** Answered status (200 accepted, 400 refused...). */
  status: number;
  readonly text: string | undefined;
}

export interface BenchGraph {
  readonly url: string;
  readonly fake: FakeGraph;
  /** Every `POST .../messages`, in arrival order. Clear with `arrivals.length = 0`. */
  readonly arrivals: SendArrival[];
  /** Requests not yet answered (the simulated latency is running). */
  inFlight(): number;
  close(): Promise<void>;
}

export async function startBenchGraph(opts: {
  appSecret: string;
  page: { id: string; name: string; accessToken: string };
  latencyMs: number;
  version: string;
}): Promise<BenchGraph> {
  const fake = createFakeGraph({
    appSecret: opts.appSecret,
    pages: [opts.page],
    latencyMs: opts.latencyMs,
    version: opts.version,
  });
  const arrivals: SendArrival[] = [];
  let inFlight = 0;
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const at = performance.now();
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (req.method !== 'POST' || !req.path.endsWith('/messages')) return;
      const body = (req.body ?? {}) as { recipient?: { id?: unknown }; message?: { text?: unknown } };
      arrivals.push({
        at,
        psid: typeof body.recipient?.id === 'string' ? body.recipient.id : '',
        status: res.statusCode,
        text: typeof body.message?.text === 'string' ? body.message.text : undefined,
      });
    });
    next();
  });
  app.use(fake.router);
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fake,
    arrivals,
    inFlight: () => inFlight,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
