/**
 * Shared fixture of the fault suites (test/faults/*.test.ts): the things that fail live in this test
 * process — the embedded database with a data directory (stop it and start it again on the same port
 * and directory) and the fake Graph API on its own port (outage, refused connections, revoked token) —
 * while the bot runs as a child process (`startBotProcess`), exactly as in production.
 *
 *   const rig = await startFaultRig('dbaway');
 *   const bot = await rig.startBot();
 *   await rig.say(bot, psid, 'ciao');              // signed webhook; Meta notes the 24 h window
 *   await rig.stopDatabase(); ... await rig.startDatabase();
 *   await rig.close();
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { pino } from 'pino';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';
import {
  createFakeGraph,
  type FakeGraph,
  type FakeGraphServer,
  type SentMessage,
} from '../../src/dev/fake-graph/index.js';
import {
  messageEvent,
  messagingBody,
  newMid,
  postSignedWebhook,
  type WebhookBody,
} from '../../src/dev/webhook-payloads.js';
import { startBotProcess, type BotProcess } from '../support/child-bot.js';

export const FAULT_PAGE = {
  id: '330000000000001',
  name: 'Fault Suite Page',
  accessToken: 'FAULT-SUITE-PAGE-ACCESS-TOKEN-0000000001',
};
export const FAULT_APP_SECRET = 'fault-suite-app-secret';
export const FAULT_APP_ID = '1000000000000001';

/** A new fan's first message gets greeting + disclosure + menu (flows/start.ts). */
export const FIRST_MESSAGE_BURST = 3;

/** `FAULTS_LONG=1` runs the long variants (minutes of outage instead of seconds). */
export const LONG = process.env.FAULTS_LONG === '1';

export interface FaultRig {
  readonly dataDir: string;
  readonly fake: FakeGraph;
  readonly graph: FakeGraphServer;
  /** `mongodb://127.0.0.1:<port>/<db>`: the same URI before and after a restart of the database. */
  readonly mongoUri: string;
  readonly dbName: string;
  /** A driver connection of the test's own (reconnects by itself after the database comes back). */
  db(): Db;
  readonly databaseUp: boolean;
  /** Stops the embedded server (its clients' sockets are cut); the data directory stays. */
  stopDatabase(): Promise<void>;
  /** Starts it again on the same port and data directory (journal replayed). */
  startDatabase(): Promise<void>;
  /** The bot (both roles unless `env.ROLE` says otherwise) as a child process, echoes pointed at it. */
  startBot(env?: Record<string, string>): Promise<BotProcess>;
  /** Signed webhook POST of `body` to the bot; never throws (status 0 = no answer). */
  post(bot: BotProcess, body: WebhookBody): Promise<{ status: number; ms: number }>;
  /** A fan's text message as Meta delivers it (the 24 h window noted first). */
  messageBody(psid: string, text: string, mid?: string): WebhookBody;
  close(): Promise<void>;
}

export async function startFaultRig(name: string, opts: { graphLatencyMs?: number } = {}): Promise<FaultRig> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `faults-${name}-`));
  const logger = pino({ level: process.env.EMBEDDED_MONGO_LOG_LEVEL ?? 'silent' });
  let mongo: EmbeddedMongo | undefined = await startEmbeddedMongo({ dbPath: dataDir, logger });
  const port = mongo.port;
  const dbName = `faults_${name}`;
  const mongoUri = `${mongo.uri}/${dbName}`;
  const fake = createFakeGraph({
    appSecret: FAULT_APP_SECRET,
    appId: FAULT_APP_ID,
    pages: [FAULT_PAGE],
    version: 'v25.0',
    latencyMs: opts.graphLatencyMs ?? 0,
  });
  const graph = await fake.listen();
  // Short server selection: the test's own queries should fail fast while the database is away.
  const client = await new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 2000 }).connect();
  const bots: BotProcess[] = [];

  return {
    dataDir,
    fake,
    graph,
    mongoUri,
    dbName,
    db: () => client.db(dbName),
    get databaseUp() {
      return mongo !== undefined;
    },
    async stopDatabase() {
      await mongo?.stop();
      mongo = undefined;
    },
    async startDatabase() {
      if (mongo) return;
      mongo = await startEmbeddedMongo({ dbPath: dataDir, port, logger });
    },
    async startBot(env = {}) {
      const bot = await startBotProcess({
        ROLE: 'all',
        MONGODB_URI: mongoUri,
        FACEBOOK_APP_SECRET: FAULT_APP_SECRET,
        FACEBOOK_VERIFY_TOKEN: 'fault-suite-verify',
        FACEBOOK_ACCESS_TOKEN: FAULT_PAGE.accessToken,
        FACEBOOK_PAGE_ID: FAULT_PAGE.id,
        FACEBOOK_APP_ID: FAULT_APP_ID,
        GRAPH_API_URL: graph.url,
        GRAPH_API_VERSION: 'v25.0',
        LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
        ...env,
      });
      bots.push(bot);
      // FAULTS_BOT_LOG=<file>: the bot's whole log (output() keeps only its last 20 kB).
      if (process.env.FAULTS_BOT_LOG) {
        const file = createWriteStream(process.env.FAULTS_BOT_LOG, { flags: 'a' });
        bot.child.stdout?.pipe(file);
        bot.child.stderr?.pipe(file);
      }
      fake.setEchoWebhook({
        url: `${bot.url}/api/messages`,
        appSecret: FAULT_APP_SECRET,
        appId: FAULT_APP_ID,
      });
      return bot;
    },
    async post(bot, body) {
      const started = performance.now();
      try {
        const res = await postSignedWebhook(`${bot.url}/api/messages`, body, FAULT_APP_SECRET);
        return { status: res.status, ms: performance.now() - started };
      } catch {
        return { status: 0, ms: performance.now() - started };
      }
    },
    messageBody(psid, text, mid = newMid()) {
      const event = messageEvent({ pageId: FAULT_PAGE.id, psid, text, mid });
      fake.noteUserInteraction(FAULT_PAGE.id, psid, new Date(event.timestamp ?? Date.now()));
      return messagingBody(FAULT_PAGE.id, event);
    },
    async close() {
      fake.setEchoWebhook(undefined);
      await Promise.all(bots.splice(0).map((b) => b.stop()));
      await client.close();
      await graph.close();
      await mongo?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sends Meta accepted more than once (same `ob:<outbox id>` metadata), over all messages given. */
export function duplicateSends(messages: readonly SentMessage[]): number {
  const seen = new Map<string, number>();
  for (const m of messages) if (m.metadata) seen.set(m.metadata, (seen.get(m.metadata) ?? 0) + 1);
  return [...seen.values()].reduce((n, c) => n + c - 1, 0);
}

export interface LogEntry {
  level: number;
  msg: string;
  alert?: string;
  [key: string]: unknown;
}

/**
 * Every error-level (or worse) and alert line the bot writes from now on, parsed. BotProcess.output()
 * keeps only the last 20 kB; a fault run logs more than that, and the alert may be early in it.
 */
export function watchLog(bot: BotProcess): {
  readonly entries: LogEntry[];
  /** How many lines of any level carried each message. */
  readonly counts: Map<string, number>;
  alerts(name?: string): LogEntry[];
} {
  const entries: LogEntry[] = [];
  const counts = new Map<string, number>();
  let partial = '';
  const take = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) {
        if (line.trim()) entries.push({ level: 60, msg: line });
        continue;
      }
      try {
        const entry = JSON.parse(line) as LogEntry;
        counts.set(entry.msg, (counts.get(entry.msg) ?? 0) + 1);
        // Graph client lines also count by edge: 'graph api call failed (network):messages'.
        const graphPath = (entry.graph as { path?: unknown } | undefined)?.path;
        if (typeof graphPath === 'string') {
          const edge = `${entry.msg}:${graphPath.split('/').pop() ?? ''}`;
          counts.set(edge, (counts.get(edge) ?? 0) + 1);
        }
        if (entry.level >= 50 || typeof entry.alert === 'string') entries.push(entry);
      } catch {
        entries.push({ level: 60, msg: line });
      }
    }
  };
  bot.child.stdout?.on('data', take);
  bot.child.stderr?.on('data', take);
  return {
    entries,
    counts,
    alerts: (name) => entries.filter((e) => typeof e.alert === 'string' && (!name || e.alert === name)),
  };
}

/** `/healthz` as JSON with its status (status 0 when it did not answer within `timeoutMs`). */
export async function health(
  bot: BotProcess,
  timeoutMs = 5000,
): Promise<{ status: number; ms: number; body: Record<string, unknown> }> {
  const started = performance.now();
  try {
    const res = await fetch(`${bot.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return {
      status: res.status,
      ms: performance.now() - started,
      body: (await res.json()) as Record<string, unknown>,
    };
  } catch {
    return { status: 0, ms: performance.now() - started, body: {} };
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
