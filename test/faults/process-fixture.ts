/**
 * Fixture of the multi-process fault suites (two-workers, busy-hour): the database (embedded server
 * with a data directory) and the fake Graph API live in this test process and outlive the bots; web
 * and worker roles run as separate child processes that the tests SIGKILL. Meta's echoes always go
 * to the current web process, as they would go to the app's one callback URL behind a load balancer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { pino } from 'pino';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';
import { LeaseModel } from '../../src/db/models/lease.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { postSignedWebhook, type WebhookBody } from '../../src/dev/webhook-payloads.js';
import { startBotProcess, type BotProcess } from '../support/child-bot.js';

export const PROC_APP_SECRET = 'process-faults-app-secret';
export const PROC_APP_ID = '1000000000000001';

/**
 * The shortest leases the configuration allows: a killed process's fans, claims and jobs are taken
 * over in seconds. A send in doubt keeps the default echo window (claim + grace = 75 s): its echo may
 * have to wait for a killed web process to come back (the long busy hour, with a 30 s window, resent 9
 * turn replies whose echoes came later).
 */
export const SHORT_LEASES = {
  INBOX_LEASE_SECONDS: '5',
  OUTBOX_CLAIM_SECONDS: '15',
  OUTBOX_ECHO_GRACE_SECONDS: '60',
  JOB_LEASE_SECONDS: '10',
} as const;

export interface ProcessRig {
  readonly page: { id: string; name: string; accessToken: string };
  readonly fake: FakeGraph;
  readonly graph: FakeGraphServer;
  readonly mongoUri: string;
  /** The current web process (echoes are pointed at it), if one runs. */
  readonly web: BotProcess | undefined;
  startWeb(env?: Record<string, string>): Promise<BotProcess>;
  startWorker(env?: Record<string, string>): Promise<BotProcess>;
  /** Signed webhook POST to the current web process; status 0 when nothing answered. */
  post(body: WebhookBody): Promise<number>;
  /** Every holder seen on leases whose name starts with one of `prefixes` (sampled while the test runs). */
  sampleLeases(prefixes: readonly string[]): { stop(): Map<string, Set<string>> };
  /** All processes' output, for a failed test. */
  dumpOutput(): void;
  close(): Promise<void>;
}

export async function startProcessRig(
  name: string,
  opts: { pageId: string; graphLatencyMs?: number; env?: Record<string, string> },
): Promise<ProcessRig> {
  const page = {
    id: opts.pageId,
    name: `${name} page`,
    accessToken: `PROC-${name.toUpperCase()}-PAGE-ACCESS-TOKEN-000001`,
  };
  const dataDir = mkdtempSync(path.join(tmpdir(), `faults-${name}-`));
  const mongo: EmbeddedMongo = await startEmbeddedMongo({
    dbPath: dataDir,
    logger: pino({ level: 'silent' }),
  });
  const mongoUri = `${mongo.uri}/faults_${name.replace(/\W/g, '_')}`;
  const fake = createFakeGraph({
    appSecret: PROC_APP_SECRET,
    appId: PROC_APP_ID,
    pages: [page],
    version: 'v25.0',
    latencyMs: opts.graphLatencyMs ?? 0,
  });
  const graph = await fake.listen();
  await mongoose.connect(mongoUri);
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  const all: BotProcess[] = [];
  let web: BotProcess | undefined;

  const start = async (role: 'web' | 'worker', env: Record<string, string> = {}) => {
    const bot = await startBotProcess(
      {
        ROLE: role,
        MONGODB_URI: mongoUri,
        FACEBOOK_APP_SECRET: PROC_APP_SECRET,
        FACEBOOK_VERIFY_TOKEN: `${name}-verify`,
        FACEBOOK_ACCESS_TOKEN: page.accessToken,
        FACEBOOK_PAGE_ID: page.id,
        FACEBOOK_APP_ID: PROC_APP_ID,
        GRAPH_API_URL: graph.url,
        GRAPH_API_VERSION: 'v25.0',
        LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'error',
        ...SHORT_LEASES,
        ...(opts.env ?? {}),
        ...env,
      },
      { readyTimeoutMs: 120_000 },
    );
    all.push(bot);
    return bot;
  };

  return {
    page,
    fake,
    graph,
    mongoUri,
    get web() {
      return web;
    },
    async startWeb(env) {
      web = await start('web', env);
      fake.setEchoWebhook({ url: `${web.url}/api/messages`, appSecret: PROC_APP_SECRET, appId: PROC_APP_ID });
      return web;
    },
    startWorker: (env) => start('worker', env),
    async post(body) {
      if (!web) return 0;
      try {
        return (await postSignedWebhook(`${web.url}/api/messages`, body, PROC_APP_SECRET)).status;
      } catch {
        return 0;
      }
    },
    sampleLeases(prefixes) {
      const seen = new Map<string, Set<string>>(prefixes.map((p) => [p, new Set<string>()]));
      let running = true;
      const loop = (async () => {
        while (running) {
          try {
            const leases = await LeaseModel.collection.find({}).toArray();
            for (const l of leases) {
              const id = String(l._id);
              const prefix = prefixes.find((p) => id.startsWith(p));
              if (prefix) seen.get(prefix)!.add(String(l.holder));
            }
          } catch {
            // The sample is evidence only; a failed read changes nothing.
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      return {
        stop() {
          running = false;
          void loop;
          return seen;
        },
      };
    },
    dumpOutput() {
      for (const b of all) console.log(`--- bot ${b.url} (pid ${b.child.pid}) output ---\n${b.output()}`);
    },
    async close() {
      fake.setEchoWebhook(undefined);
      await Promise.all(all.map((b) => b.stop()));
      await mongoose.disconnect();
      await graph.close();
      await mongo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The pid in a lease or job-run holder (`inbox-<pid>-…`, `outbox-<pid>-…`, `jobs-<pid>-…`). */
export function holderPid(holder: string): number {
  return Number(/-(\d+)-/.exec(holder)?.[1] ?? NaN);
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
