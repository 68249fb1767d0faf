/**
 * npm run bench:soak [-- --quick] [-- --rate 50 --minutes 10]
 *
 * Sustained mixed traffic against our bot for minutes, to see what short benches cannot: does memory
 * stay flat, does the backlog stay bounded and drain, does the webhook keep acknowledging fast?
 *
 * - The bot runs as a child process as `npm start` runs it (both roles, embedded database journalled
 *   with fsync in a temporary data directory, default processor, sender, jobs), with real (not
 *   simulator) Facebook settings pointing at a fake Graph API in this process that answers after
 *   150 ms and echoes every accepted send back to the webhook (`message_echoes`), as Meta does. The
 *   demo catalogue, group buys and their linked Page posts are loaded at start.
 * - Open loop: event i leaves at `start + i / rate` whatever the answers; one event per signed POST.
 *   The mix (bench/lib/soak-traffic.ts): new and returning fans typing ("shop", "negozio", product
 *   names, "carrello"...), tapping the buttons and quick replies the bot really sent them (browse,
 *   add to cart, join a group buy, checkout), Get Started (some through m.me referral links the bot
 *   handed out), referrals on existing threads, comments under the linked posts, delivery and read
 *   receipts.
 * - Every `--sample` seconds: the bot's RSS (/proc/<pid>/status VmRSS) and V8 heap (over IPC), inbox
 *   and outbox backlog (/healthz), webhook ack latency p50/p99 of the window, replies sent, documents
 *   in the database, the bot's CPU and the machine's load average.
 * - Verdict: memory flat? (RSS slope over the second half of the load ≤ --max-slope MB/min), backlog
 *   flat? (bounded, no upward trend, drained after the load), overall ack p99 (target < 50 ms).
 * - Results: bench/results/soak-<date>.json and .md (`--no-json` to skip).
 */
import { execSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serializeLikeMeta, webhookHeaders } from '../src/dev/webhook-payloads.js';
import { startBotChild, type BotChild } from './lib/child.js';
import { startBenchGraph, type BenchGraph } from './lib/graph.js';
import { keepAliveAgent } from './lib/load.js';
import type { PendingQueues, SoakChildSample, SoakSetup } from './lib/soak-bot.js';
import {
  judge,
  SAMPLE_HEADER,
  sampleRow,
  verdictLines,
  type SoakSample,
  type SoakVerdict,
} from './lib/soak-report.js';
import { SOAK_KINDS, SOAK_MIX, SoakTraffic, type SoakKind } from './lib/soak-traffic.js';
import { markdownTable, ms, summarize, table, type Summary } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rate: { type: 'string' },
    minutes: { type: 'string' },
    sample: { type: 'string' },
    warmup: { type: 'string' },
    drain: { type: 'string' },
    latency: { type: 'string' },
    'max-slope': { type: 'string' },
    seed: { type: 'string' },
    'no-echoes': { type: 'boolean', default: false },
    'db-process': { type: 'boolean', default: false },
    'log-level': { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:soak -- [options]   (each option also as an env var)
  --quick             1 minute at the same rate, samples every 5 s     BENCH_QUICK=1
  --rate 50           offered events/s (open loop)                      BENCH_SOAK_RATE
  --minutes 10        duration of the load                              BENCH_SOAK_MINUTES
  --sample 10         seconds per sample window                         BENCH_SOAK_SAMPLE_S
  --warmup S          seconds left out of the memory verdict (default 20% of the load)
  --drain 120         max seconds to wait for the backlog after the load  BENCH_SOAK_DRAIN_S
  --latency 150       fake Graph API latency, ms                        BENCH_GRAPH_LATENCY_MS
  --max-slope 1       memory verdict: max RSS slope over the second half, MB/min
  --seed 42           traffic PRNG seed
  --no-echoes         do not echo accepted sends back to the webhook (message_echoes)
  --db-process        the embedded database in its own process (as \`npm run db\`), so the bot's
                      RSS is the bot's alone (its own RSS is sampled too)
  --log-level info    the bot's LOG_LEVEL (its log goes to a temporary file)
  --keep              keep the bot's data directory and log (printed)
  --no-json           do not write bench/results/soak-<date>.{json,md}`);
  process.exit(0);
}
const env = process.env;
const QUICK = args.quick || env.BENCH_QUICK === '1';
const RATE = Number(args.rate ?? env.BENCH_SOAK_RATE ?? 50);
const LOAD_S = Number(args.minutes ?? env.BENCH_SOAK_MINUTES ?? (QUICK ? 1 : 10)) * 60;
const SAMPLE_S = Number(args.sample ?? env.BENCH_SOAK_SAMPLE_S ?? (QUICK ? 5 : 10));
const WARMUP_S = Number(args.warmup ?? Math.max(10, Math.round(LOAD_S * 0.2)));
const DRAIN_S = Number(args.drain ?? env.BENCH_SOAK_DRAIN_S ?? 120);
const GRAPH_LATENCY_MS = Number(args.latency ?? env.BENCH_GRAPH_LATENCY_MS ?? 150);
const MAX_SLOPE = Number(args['max-slope'] ?? 1);
const SEED = Number(args.seed ?? 42);
const ECHOES = !args['no-echoes'];
const DB_PROCESS = args['db-process'];
const LOG_LEVEL = args['log-level'] ?? env.BENCH_LOG_LEVEL ?? 'info';
const ACK_TARGET_P99 = 50;

if (![RATE, LOAD_S, SAMPLE_S, DRAIN_S].every((v) => v > 0) || !(WARMUP_S < LOAD_S)) {
  console.error('bench:soak: --rate, --minutes, --sample, --drain must be positive; --warmup < the load');
  process.exit(2);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE = {
  id: '110000000000043',
  name: 'Soak Page',
  accessToken: 'SOAK-PAGE-ACCESS-TOKEN-0000000000000',
};
const APP_SECRET = 'soak-app-secret-0123456789';
const APP_ID = '1000000000000001'; // the fake Graph API's default app id
const VERSION = 'v25.0';

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => os.loadavg().map((l) => Number(l.toFixed(2))) as [number, number, number];

function procStatusMb(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** /proc/pressure/cpu "some avg10": % of the last 10 s in which runnable tasks waited for a CPU. */
function cpuPressure(): number {
  try {
    const text = fs.readFileSync('/proc/pressure/cpu', 'utf8');
    return Number(/^some avg10=([\d.]+)/m.exec(text)?.[1] ?? NaN);
  } catch {
    return Number.NaN;
  }
}

interface Health {
  inbox?: { pending: number; parked: number };
  outbox?: { pending: number; failed: number };
}

async function health(url: string): Promise<Health> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as Health;
  } catch {
    return {};
  }
}

/** Warnings and errors in the bot's log (pino JSON lines), counted by message. */
function logSummary(
  file: string,
  stoppingAt: number,
): { warn: number; error: number; atShutdown: number; top: [string, number][] } {
  const out = { warn: 0, error: 0, atShutdown: 0, top: [] as [string, number][] };
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  const byMsg = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { level?: number; msg?: string; time?: number };
    try {
      rec = JSON.parse(line) as { level?: number; msg?: string; time?: number };
    } catch {
      continue;
    }
    if ((rec.level ?? 0) < 40) continue;
    if ((rec.time ?? 0) >= stoppingAt) {
      out.atShutdown++; // the bot was being stopped: not part of the run
      continue;
    }
    if ((rec.level ?? 0) >= 50) out.error++;
    else out.warn++;
    const key = `${(rec.level ?? 0) >= 50 ? 'error' : 'warn'}: ${rec.msg ?? '?'}`;
    byMsg.set(key, (byMsg.get(key) ?? 0) + 1);
  }
  out.top = [...byMsg].sort((a, b) => b[1] - a[1]).slice(0, 8);
  return out;
}

/** `src/db/embedded/cli.ts` in a child process; resolves with its URI (its first line on stdout). */
async function startDbProcess(
  dbPath: string,
  logFile: string,
): Promise<{ pid: number; uri: string; stop(): Promise<void> }> {
  const err = fs.openSync(logFile, 'a');
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, '..', 'src', 'db', 'embedded', 'cli.ts'), '--dbpath', dbPath],
    { stdio: ['ignore', 'pipe', err] },
  );
  fs.closeSync(err);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`database process: no URI in 60 s (log ${logFile})`)),
      60_000,
    );
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n') && line.startsWith('mongodb://')) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`database process exited (log ${logFile})`));
    });
  });
  return {
    pid: proc.pid ?? -1,
    uri,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// The run

interface Window {
  offered: number;
  acks: number[];
  errors: number;
  sent: number;
  privateReplies: number;
  publicReplies: number;
  refused: number;
}
const newWindow = (): Window => ({
  offered: 0,
  acks: [],
  errors: 0,
  sent: 0,
  privateReplies: 0,
  publicReplies: 0,
  refused: 0,
});

interface RunResult {
  readonly samples: SoakSample[];
  readonly ack: Summary;
  readonly ackByKind: Record<string, Summary>;
  readonly ackErrors: number;
  readonly ackStatuses: Record<string, number>;
  readonly offeredByKind: Record<string, number>;
  readonly drawnByKind: Record<string, number>;
  readonly taps: Record<string, number>;
  readonly newFans: number;
  readonly fans: number;
  readonly refsCollected: number;
  readonly totals: { sent: number; privateReplies: number; publicReplies: number; refused: number };
  readonly lag: Summary;
  /** Requests sent again after a reset on a reused keep-alive socket. */
  readonly resetRetries: number;
  readonly drained: boolean;
  readonly drainSeconds: number;
  readonly events: number;
  /** Date.now() when the bot was asked to stop (its log after that is shutdown, not the run). */
  readonly stoppingAt: number;
  readonly finalDocuments: Record<string, number>;
  readonly child: Record<string, unknown>;
  readonly load: { start: number[]; max1: number; end: number[] };
}

async function run(workDir: string): Promise<RunResult> {
  const graph: BenchGraph = await startBenchGraph({
    appSecret: APP_SECRET,
    page: PAGE,
    latencyMs: GRAPH_LATENCY_MS,
    version: VERSION,
  });
  const dataDir = fs.mkdtempSync(path.join(workDir, 'data-'));
  // --db-process: the embedded server alone in a process (journalled with fsync, as `npm run db`).
  let db: { pid: number; uri: string; stop(): Promise<void> } | undefined;
  if (DB_PROCESS) db = await startDbProcess(dataDir, path.join(workDir, 'db.log'));
  const logFile = path.join(workDir, 'bot.log');
  const child: BotChild = await startBotChild(
    path.join(here, 'lib', 'soak-bot.ts'),
    {
      FACEBOOK_APP_SECRET: APP_SECRET,
      FACEBOOK_VERIFY_TOKEN: 'soak-verify-token',
      FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
      FACEBOOK_PAGE_ID: PAGE.id,
      FACEBOOK_APP_ID: APP_ID,
      GRAPH_API_URL: graph.url,
      GRAPH_API_VERSION: VERSION,
      ...(db ? { MONGODB_URI: `${db.uri}/soak` } : { DATA_DIR: dataDir }),
      LOG_LEVEL: LOG_LEVEL,
      ROLE: 'all',
      PORT: '0',
    },
    logFile,
  );
  const agent = keepAliveAgent();
  let stoppingAt = Number.POSITIVE_INFINITY;
  try {
    const setup = await child.extra<SoakSetup>('setup');
    if (setup.posts.length === 0) throw new Error('no demo Page posts: the demo data did not load');
    if (ECHOES)
      graph.fake.setEchoWebhook({ url: `${child.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });
    console.log(
      `  bot pid ${child.pid}: ${setup.campaigns.length} demo group buys, ${setup.posts.length} linked posts; log ${logFile}`,
    );

    const traffic = new SoakTraffic({
      pageId: PAGE.id,
      posts: setup.posts.map((p) => p.postId),
      seed: SEED,
      hooks: {
        onInteraction: (psid) => graph.fake.noteUserInteraction(PAGE.id, psid),
        onNewFan: (f) =>
          graph.fake.addUser({
            psid: f.psid,
            asid: f.asid,
            firstName: f.firstName,
            lastName: f.lastName,
            locale: f.locale,
            pageId: PAGE.id,
          }),
        onComment: (c) =>
          graph.fake.noteComment(PAGE.id, {
            commentId: c.commentId,
            postId: c.postId,
            fromId: c.fromId,
            psid: c.psid,
            createdTime: new Date(),
          }),
      },
    });

    // What the fake Graph API saw: consumed often, and its records dropped, so the bench's own
    // memory does not grow with the run.
    const totals = { sent: 0, privateReplies: 0, publicReplies: 0, refused: 0 };
    let win = newWindow();
    const drainGraph = (): void => {
      const now = Date.now();
      for (const m of graph.fake.messages.splice(0)) {
        win.sent++;
        totals.sent++;
        if (m.recipient.comment_id) {
          win.privateReplies++;
          totals.privateReplies++;
        }
        traffic.observe(m, now);
      }
      const pub = graph.fake.publicReplies.splice(0).length;
      win.publicReplies += pub;
      totals.publicReplies += pub;
      const refused = graph.arrivals.splice(0).filter((a) => a.status !== 200).length;
      win.refused += refused;
      totals.refused += refused;
      graph.fake.calls.splice(0);
      graph.fake.senderActions.splice(0);
    };
    const graphTimer = setInterval(drainGraph, 200);

    const acks: number[] = [];
    const ackByKind = new Map<SoakKind, number[]>();
    const lags: number[] = [];
    const statuses: Record<string, number> = {};
    const offeredByKind: Record<string, number> = {};
    const drawnByKind: Record<string, number> = {};
    const taps: Record<string, number> = {};
    let newFans = 0;
    let ackErrors = 0;
    let outstanding = 0;

    const url = new URL(child.url);
    let resetRetries = 0;
    const send = (kind: SoakKind, raw: Buffer, scheduledAt: number, retry = false): void => {
      if (!retry) {
        outstanding++;
        lags.push(performance.now() - scheduledAt);
      }
      let settled = false;
      const settle = (status: number, error?: string): void => {
        if (settled) return;
        settled = true;
        outstanding--;
        const key = status === 0 ? (error ?? 'error') : String(status);
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (status >= 200 && status < 300) {
          const latency = performance.now() - scheduledAt;
          acks.push(latency);
          win.acks.push(latency);
          const list = ackByKind.get(kind) ?? [];
          list.push(latency);
          ackByKind.set(kind, list);
        } else {
          ackErrors++;
          win.errors++;
        }
      };
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/messages',
          agent,
          headers: { ...webhookHeaders(raw, APP_SECRET), 'content-length': String(raw.length) },
          timeout: 30_000,
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => settle(res.statusCode ?? 0));
          res.on('error', (e) => settle(0, e.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed just as it was reused (Node's documented race):
        // send again once on a fresh one, as Meta's delivery would; the latency still counts from
        // the scheduled time.
        if (!retry && !settled && req.reusedSocket && e.code === 'ECONNRESET') {
          settled = true;
          resetRetries++;
          send(kind, raw, scheduledAt, true);
          return;
        }
        settle(0, e.message);
      });
      req.end(raw);
    };

    // Sampling: every SAMPLE_S seconds from the start of the load, and on through the drain.
    const samples: SoakSample[] = [];
    const startedAt = performance.now();
    const elapsed = () => (performance.now() - startedAt) / 1000;
    let phase: 'load' | 'drain' = 'load';
    let lastDocuments: Record<string, number> = {};
    const takeSample = async (): Promise<void> => {
      drainGraph();
      const w = win;
      win = newWindow();
      const mem = procStatusMb(child.pid);
      const [report, childSample, h] = await Promise.all([
        child.report().then(async (r) => {
          await child.mark();
          return r;
        }),
        child.extra<SoakChildSample>('sample'),
        health(child.url),
      ]);
      lastDocuments = childSample.documents;
      const a = summarize(w.acks);
      const s: SoakSample = {
        t: elapsed(),
        phase,
        offered: w.offered,
        acked: w.acks.length,
        ackErrors: w.errors,
        ackP50: a.p50,
        ackP99: a.p99,
        ackMax: a.max,
        sent: w.sent,
        privateReplies: w.privateReplies,
        publicReplies: w.publicReplies,
        refused: w.refused,
        rssMb: mem.rss,
        hwmMb: mem.hwm,
        ...(db ? { dbRssMb: procStatusMb(db.pid).rss } : {}),
        heapMb: childSample.heapUsedMin / 1024 / 1024,
        heapMaxMb: childSample.heapUsedMax / 1024 / 1024,
        // NaN (no full GC yet) crosses IPC as null.
        liveHeapMb:
          childSample.heapAfterMajorGc > 0 ? childSample.heapAfterMajorGc / 1024 / 1024 : Number.NaN,
        majorGcs: childSample.majorGcs,
        cpuPercent: report.cpuPercent,
        eldP99: report.eldP99,
        inboxPending: h.inbox?.pending ?? Number.NaN,
        inboxParked: h.inbox?.parked ?? Number.NaN,
        outboxPending: h.outbox?.pending ?? Number.NaN,
        outboxFailed: h.outbox?.failed ?? Number.NaN,
        documents: Object.values(childSample.documents).reduce((x, y) => x + y, 0),
        collections: childSample.documents,
        load1: os.loadavg()[0]!,
        cpuPressure: cpuPressure(),
      };
      if ((h.inbox?.pending ?? 0) > 100) {
        s.pendingQueues = await child.extra<PendingQueues>('pending-queues');
      }
      samples.push(s);
      console.log(
        `  ${sampleRow(s).join('  ')}` +
          (s.pendingQueues
            ? `   [inbox backlog in ${s.pendingQueues.queues} queues; fullest ${s.pendingQueues.top
                .slice(0, 3)
                .map((q) => `${q.queueKey} ${q.pending}`)
                .join(', ')}]`
            : ''),
      );
    };

    const loadStart = loadavg();
    let maxLoad1 = loadStart[0];
    console.log(`  ${SAMPLE_HEADER.join(' | ')}`);
    await child.mark();
    let sampling: Promise<void> | undefined;
    let nextSampleAt = SAMPLE_S;
    const sampler = setInterval(() => {
      maxLoad1 = Math.max(maxLoad1, os.loadavg()[0]!);
      // One sample at a time: on a starved machine a sample can take longer than its window, and
      // the window then simply stretches (each row has its own t).
      if (phase !== 'load' || sampling || elapsed() < nextSampleAt) return;
      sampling = takeSample()
        .catch((e: unknown) => console.error('  sample failed:', e))
        .finally(() => {
          sampling = undefined;
          nextSampleAt = Math.max(nextSampleAt + SAMPLE_S, Math.ceil(elapsed()));
        });
    }, 100);

    // Open loop: event i is due at start + i / rate; each is decided and signed when it is due.
    const total = Math.round(RATE * LOAD_S);
    const intervalMs = 1000 / RATE;
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor((performance.now() - startedAt) / intervalMs) + 1);
        while (next < due) {
          const scheduledAt = startedAt + next * intervalMs;
          next++;
          const e = traffic.next(Date.now());
          offeredByKind[e.kind] = (offeredByKind[e.kind] ?? 0) + 1;
          drawnByKind[e.drawn] = (drawnByKind[e.drawn] ?? 0) + 1;
          if (e.newFan) newFans++;
          if (e.tapped) taps[e.tapped] = (taps[e.tapped] ?? 0) + 1;
          win.offered++;
          send(e.kind, Buffer.from(serializeLikeMeta(e.body)), scheduledAt);
        }
        if (next >= total) return resolve();
        setTimeout(tick, Math.max(0, Math.floor(startedAt + next * intervalMs - performance.now())));
      };
      tick();
    });
    // The last acks, then the final load window.
    const ackDeadline = performance.now() + 35_000;
    while (outstanding > 0 && performance.now() < ackDeadline) await sleep(20);
    clearInterval(sampler);
    await sampling;
    await takeSample(); // the end of the load

    // Drain: sample on until nothing is pending (or the drain time is up).
    phase = 'drain';
    const loadEndedAt = performance.now();
    let drained = false;
    let lastDrainSample = performance.now();
    while ((performance.now() - loadEndedAt) / 1000 < DRAIN_S) {
      const h = await health(child.url);
      if (h.inbox?.pending === 0 && h.outbox?.pending === 0 && graph.inFlight() === 0) {
        drained = true;
        break;
      }
      if (performance.now() - lastDrainSample >= SAMPLE_S * 1000) {
        lastDrainSample = performance.now();
        await takeSample();
      }
      await sleep(500);
    }
    const drainSeconds = (performance.now() - loadEndedAt) / 1000;
    await sleep(GRAPH_LATENCY_MS + 500); // echoes and replies of the last sends
    await takeSample();
    clearInterval(graphTimer);
    maxLoad1 = Math.max(maxLoad1, ...samples.map((s) => s.load1));

    return {
      samples,
      ack: summarize(acks),
      ackByKind: Object.fromEntries([...ackByKind].map(([k, v]) => [k, summarize(v)])),
      ackErrors,
      ackStatuses: statuses,
      offeredByKind,
      drawnByKind,
      taps,
      newFans,
      fans: traffic.fanCount,
      refsCollected: traffic.seen.refs,
      totals,
      lag: summarize(lags),
      resetRetries,
      drained,
      drainSeconds,
      events: total,
      get stoppingAt() {
        return stoppingAt;
      },
      finalDocuments: lastDocuments,
      child: child.info,
      load: { start: loadStart, max1: Number(maxLoad1.toFixed(2)), end: loadavg() },
    };
  } finally {
    agent.destroy();
    stoppingAt = Date.now();
    await child.stop().catch((error: unknown) => console.error('  bot: stop failed:', error));
    await graph.close();
    await db?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function stamp(): string {
  return new Date()
    .toISOString()
    .replace(/:\d{2}\.\d{3}Z$/, '')
    .replace(':', '');
}

function markdown(
  r: RunResult,
  verdict: SoakVerdict,
  lines: string[],
  commit: string,
  logged: ReturnType<typeof logSummary>,
): string {
  const kinds = SOAK_KINDS.map((k) => [
    k,
    `${((SOAK_MIX[k] ?? 0) * 100).toFixed(0)}%`,
    String(r.drawnByKind[k] ?? 0),
    String(r.offeredByKind[k] ?? 0),
    ms(r.ackByKind[k]?.p99 ?? Number.NaN),
  ]);
  const topTaps = Object.entries(r.taps)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `# Soak ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${QUICK ? ' (quick)' : ''}`,
    '',
    `\`npm run bench:soak -- --rate ${RATE} --minutes ${LOAD_S / 60}${DB_PROCESS ? ' --db-process' : ''}\` at commit ${commit}, ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. ` +
      `Load average (1/5/15 min) at start ${r.load.start.join(' / ')}, highest 1-min ${r.load.max1}, ` +
      `at end ${r.load.end.join(' / ')} (other work shares this 2-core machine).`,
    '',
    `Our bot in a child process (both roles, embedded database with fsync ` +
      `${DB_PROCESS ? 'in a process of its own (--db-process)' : 'on its own thread in the bot process'}, LOG_LEVEL=${LOG_LEVEL}), ` +
      `fake Graph API answering in ${GRAPH_LATENCY_MS} ms${ECHOES ? ' with message echoes' : ''}; ` +
      `${r.events.toLocaleString('en-US')} events at ${RATE}/s open loop from ${r.fans.toLocaleString('en-US')} fans ` +
      `(${r.newFans.toLocaleString('en-US')} first contacts); warm-up ${WARMUP_S} s left out of the memory verdict.`,
    '',
    '## Verdict',
    '',
    ...lines.map((l) => `- ${l}`),
    '',
    '## Over time',
    '',
    markdownTable(SAMPLE_HEADER, r.samples.map(sampleRow)),
    '',
    '## Mix',
    '',
    markdownTable(['kind', 'weight', 'drawn', 'sent as', 'ack p99'], kinds),
    '',
    `Taps (payload: count): ${topTaps || '–'}. Referral links collected from the bot's messages: ${r.refsCollected}.`,
    `Send API calls accepted: ${r.totals.sent.toLocaleString('en-US')} (${r.totals.privateReplies} private replies), ` +
      `${r.totals.publicReplies} public replies, ${r.totals.refused} refused. Documents at the end: ` +
      Object.entries(r.finalDocuments)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') +
      '.',
    `Ack statuses: ${Object.entries(r.ackStatuses)
      .map(([k, v]) => `${k} × ${v}`)
      .join(
        ', ',
      )} (${r.resetRetries} sent again after a keep-alive reset). Bot log: ${logged.warn} warnings, ${logged.error} errors` +
      (logged.top.length > 0 ? ` (${logged.top.map(([k, v]) => `${k} × ${v}`).join('; ')})` : '') +
      `; ${logged.atShutdown} while stopping.`,
    `Generator lateness p99 ${ms(r.lag.p99)} ms. Memory verdict data: ${JSON.stringify(verdict.memory)}.`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const commit = gitCommit();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-soak-'));
  const [l1, l5, l15] = loadavg();
  console.log(
    `bench:soak${QUICK ? ' (quick)' : ''}: ${RATE} events/s for ${LOAD_S / 60} min, samples every ${SAMPLE_S} s, ` +
      `warm-up ${WARMUP_S} s, drain ≤ ${DRAIN_S} s; fake Graph API ${GRAPH_LATENCY_MS} ms${ECHOES ? ' + echoes' : ''}; ` +
      `${DB_PROCESS ? 'database in its own process; ' : ''}` +
      `${os.cpus().length} CPUs, Node ${process.version}, commit ${commit}`,
  );
  console.log(`  uptime load average: ${l1} ${l5} ${l15}`);
  if (l1 > os.cpus().length * 0.5)
    console.log(
      `  WARNING: load average ${l1} on ${os.cpus().length} CPUs: other work competes with the bot; latencies will be worse than on a quiet machine.`,
    );
  let result: RunResult;
  try {
    result = await run(workDir);
  } catch (error) {
    console.error(`bench:soak failed; the bot's log stays in ${workDir}`);
    throw error;
  }
  const logged = logSummary(path.join(workDir, 'bot.log'), result.stoppingAt);
  if (args.keep) console.log(`  kept: ${workDir}`);
  else fs.rmSync(workDir, { recursive: true, force: true });

  const verdict = judge({
    samples: result.samples,
    loadSeconds: LOAD_S,
    warmupSeconds: WARMUP_S,
    rate: RATE,
    maxSlopeMbPerMin: MAX_SLOPE,
    drained: result.drained,
    drainSeconds: result.drainSeconds,
    ack: { p50: result.ack.p50, p99: result.ack.p99, max: result.ack.max, errors: result.ackErrors },
  });
  const lines = verdictLines(verdict, ACK_TARGET_P99);
  console.log('');
  console.log(table(SAMPLE_HEADER, result.samples.map(sampleRow)));
  console.log('');
  console.log(
    `Mix sent: ${SOAK_KINDS.map((k) => `${k} ${result.offeredByKind[k] ?? 0}`).join(', ')}; ` +
      `${result.fans} fans (${result.newFans} first contacts); ${result.totals.sent} replies sent ` +
      `(${result.totals.privateReplies} private), ${result.totals.publicReplies} public replies, ${result.totals.refused} refused.`,
  );
  console.log(
    `Load average at start ${result.load.start.join(' ')}, highest 1-min ${result.load.max1}, at end ${result.load.end.join(' ')}.`,
  );
  console.log(
    `Ack statuses: ${Object.entries(result.ackStatuses)
      .map(([k, v]) => `${k} × ${v}`)
      .join(
        ', ',
      )} (${result.resetRetries} sent again after a keep-alive reset). Bot log: ${logged.warn} warnings, ${logged.error} errors` +
      (logged.top.length > 0 ? ` (${logged.top.map(([k, v]) => `${k} × ${v}`).join('; ')})` : '') +
      `; ${logged.atShutdown} while stopping.`,
  );
  for (const l of lines) console.log(l);

  if (!args['no-json'] && env.BENCH_NO_JSON !== '1') {
    const dir = path.join(here, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `soak-${stamp()}${QUICK ? '-quick' : ''}`);
    fs.writeFileSync(
      `${base}.json`,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          commit,
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
          options: {
            quick: QUICK,
            rate: RATE,
            loadSeconds: LOAD_S,
            sampleSeconds: SAMPLE_S,
            warmupSeconds: WARMUP_S,
            drainSeconds: DRAIN_S,
            graphLatencyMs: GRAPH_LATENCY_MS,
            maxSlopeMbPerMin: MAX_SLOPE,
            seed: SEED,
            echoes: ECHOES,
            dbProcess: DB_PROCESS,
            logLevel: LOG_LEVEL,
            mix: SOAK_MIX,
          },
          ...result,
          verdict,
          verdictText: lines,
          botLog: logged,
        },
        null,
        2,
      )}\n`,
    );
    fs.writeFileSync(`${base}.md`, markdown(result, verdict, lines, commit, logged));
    console.log(`Results: ${path.relative(process.cwd(), base)}.{json,md}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('bench:soak failed:', error);
    process.exit(1);
  },
);
