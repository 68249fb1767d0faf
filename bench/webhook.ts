/**
 * npm run bench:webhook [-- --quick] [-- --rates 100,250,500 --duration 10 --drain 20 --bots ours,botkit]
 *
 * Webhook ack latency and reply latency (webhook POST → the matching Send API call reaching the fake
 * Graph API, which answers after 150 ms) for our bot and for a plain Botkit echo bot, in the same
 * run, at fixed offered loads (open loop: events leave on schedule whatever the answers).
 *
 * - Each bot runs in its own child process; the load generator and the fake Graph API run here, so
 *   send and arrival times share one clock.
 * - Our bot runs as `npm start` does: embedded database journalled with fsync in a temporary data
 *   directory, real Facebook configuration (not simulator mode), default processor and sender.
 * - One messaging event per POST, from a pool of distinct fans used in turn (per-fan ordering never
 *   serialises the load). Fans are warmed up first (one postback each, not measured), so the measured
 *   event — the fan types "menu" — gets exactly one reply message from our bot (the main menu; a new
 *   fan would get three: greeting, disclosure, menu) and one from the echo bot.
 * - `ours-uncapped` (opt-in) runs our bot with the page send rate raised past the configuration cap:
 *   a diagnostic that separates pipeline latency from the page rate limit.
 * - `ours-split` (opt-in) runs the two Procfile roles as two processes: ROLE=web (webhook + the
 *   embedded database) and ROLE=worker (inbox processor + outbox sender).
 * - BENCH_DB_COMMANDS=1 counts and times our bot's database commands per event.
 *
 * Targets (docs: architecture.md): ack p99 < 50 ms and reply p99 < 300 ms at 500 events/s.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  messageEvent,
  messagingBody,
  newMid,
  postbackEvent,
  serializeLikeMeta,
  webhookHeaders,
} from '../src/dev/webhook-payloads.js';
import { startBotChild, type BotChild, type ProcessReport } from './lib/child.js';
import { startBenchGraph, type BenchGraph, type SendArrival } from './lib/graph.js';
import { keepAliveAgent, runOpenLoop, type PreparedRequest, type Sample } from './lib/load.js';
import type { CommandStats, OursExtra } from './lib/ours-bot.js';
import { markdownTable, ms, summarize, table, type Summary } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rates: { type: 'string' },
    duration: { type: 'string' },
    drain: { type: 'string' },
    latency: { type: 'string' },
    fans: { type: 'string' },
    bots: { type: 'string' },
    'send-rate': { type: 'string' },
    'warmup-rate': { type: 'string' },
    'log-level': { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:webhook -- [options]   (each option also as an env var)
  --quick               3 s per load, 8 s drain
  --rates 100,250,500   offered loads, events/s           BENCH_RATES
  --duration 10         seconds per load                  BENCH_DURATION_S
  --drain 20            max seconds to wait for replies   BENCH_DRAIN_S
  --latency 150         fake Graph API latency, ms        BENCH_GRAPH_LATENCY_MS
  --fans N              fan pool (default 5 s of the top rate)  BENCH_FANS
  --bots ours,botkit    also: ours-uncapped, ours-split   BENCH_BOTS
  --send-rate 300       our SEND_RATE_PER_SECOND (1..300) BENCH_SEND_RATE
  --warmup-rate 250     fan warm-up rate, events/s        BENCH_WARMUP_RATE
  --log-level info      our bot's LOG_LEVEL               BENCH_LOG_LEVEL
  --no-json             do not write bench/results/webhook-<date>.json`);
  process.exit(0);
}
const env = process.env;
const QUICK = args.quick || env.BENCH_QUICK === '1';
const RATES = (args.rates ?? env.BENCH_RATES ?? '100,250,500').split(',').map(Number);
const DURATION_MS = Number(args.duration ?? env.BENCH_DURATION_S ?? (QUICK ? 3 : 10)) * 1000;
const DRAIN_MS = Number(args.drain ?? env.BENCH_DRAIN_S ?? (QUICK ? 8 : 20)) * 1000;
const GRAPH_LATENCY_MS = Number(args.latency ?? env.BENCH_GRAPH_LATENCY_MS ?? 150);
const TOP_RATE = Math.max(...RATES);
const FANS = Number(args.fans ?? env.BENCH_FANS ?? Math.ceil(TOP_RATE * (QUICK ? 2 : 5)));
const BOTS = (args.bots ?? env.BENCH_BOTS ?? 'ours,botkit').split(',').map((b) => b.trim()) as BotName[];
const SEND_RATE = Number(args['send-rate'] ?? env.BENCH_SEND_RATE ?? 300);
const UNCAPPED_SEND_RATE = 100_000;
const WARMUP_RATE = Number(args['warmup-rate'] ?? env.BENCH_WARMUP_RATE ?? 250);
const LOG_LEVEL = args['log-level'] ?? env.BENCH_LOG_LEVEL ?? 'info';
const DB_COMMANDS = env.BENCH_DB_COMMANDS === '1';
const TARGET = { rate: 500, ackP99: 50, replyP99: 300 } as const;

if (RATES.some((r) => !(r > 0)) || !(DURATION_MS > 0) || !(FANS > 0)) {
  console.error('bench:webhook: --rates, --duration and --fans must be positive numbers');
  process.exit(2);
}

type BotName = 'ours' | 'ours-uncapped' | 'ours-split' | 'botkit';
const KNOWN_BOTS: BotName[] = ['ours', 'ours-uncapped', 'ours-split', 'botkit'];
for (const b of BOTS) {
  if (!KNOWN_BOTS.includes(b)) {
    console.error(`bench:webhook: unknown bot '${b}' (known: ${KNOWN_BOTS.join(', ')})`);
    process.exit(2);
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE = {
  id: '110000000000042',
  name: 'Bench Page',
  accessToken: 'BENCH-PAGE-ACCESS-TOKEN-000000000000',
};
const APP_SECRET = 'bench-app-secret-0123456789';
const VERIFY_TOKEN = 'bench-verify-token';
const VERSION = 'v25.0';
const psidOf = (i: number): string => String(7_100_000_000_000_000 + i);

// ---------------------------------------------------------------------------------------------
// Results

interface PhaseResult {
  readonly bot: BotName;
  readonly rate: number;
  readonly events: number;
  readonly durationMs: number;
  /** 2xx acknowledgements per second, from the first send to the last answer. */
  readonly achievedPerSecond: number;
  readonly ack: Summary;
  readonly ackErrors: number;
  readonly ackStatuses: Record<string, number>;
  readonly reply: Summary;
  readonly repliesMissing: number;
  readonly sendCalls: number;
  /** Send API calls during this load that answered events of an earlier load. */
  readonly lateRepliesFromEarlierLoads: number;
  readonly sendRefused: number;
  readonly messagesPerEvent: number;
  /** Generator lateness (actual − scheduled send), ms. */
  readonly lag: Summary;
  readonly bench: { eldP99: number; cpuPercent: number };
  /** The bot's process(es): CPU summed, event-loop delay the worst. */
  readonly child: ProcessReport;
  /** 1-minute load average of the machine around the phase (other work competes for the CPUs). */
  readonly machineLoad: number;
  /** Our bot with BENCH_DB_COMMANDS=1: database round trips during the phase (and its drain). */
  dbCommands?: CommandStats[];
  /** Our bot only: where the time went, from its database timestamps (ms, wall clock). */
  stages?: {
    readonly receivedToDone: Summary;
    readonly receivedToOutbox: Summary;
    readonly outboxToSendCall: Summary;
  };
}

interface BotRun {
  readonly bot: BotName;
  readonly info: Record<string, unknown>;
  readonly phases: PhaseResult[];
  /** The bot's CPU time (all its processes and threads) over the measured loads and drains, per event. */
  readonly cpuMsPerEvent: number;
}

// ---------------------------------------------------------------------------------------------
// Running one bot

function prepare(body: unknown): PreparedRequest {
  const raw = Buffer.from(serializeLikeMeta(body));
  // Both signatures, as Meta sends them: ours checks sha256, the plain adapter only sha1.
  return { path: '/api/messages', headers: webhookHeaders(raw, APP_SECRET), body: raw };
}

async function waitUntil(check: () => boolean, timeoutMs: number, settleMs = 0): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) {
      if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

interface PendingEvent {
  readonly psid: string;
  readonly mid: string;
  scheduledAt: number;
  sentAt: number;
  replyAt: number;
}

/** Matches each Send API call to the earliest unanswered event of the same fan sent before it. */
function matchReplies(events: readonly PendingEvent[], arrivals: readonly SendArrival[]): void {
  const queues = new Map<string, PendingEvent[]>();
  for (const e of [...events].sort((a, b) => a.scheduledAt - b.scheduledAt)) {
    const q = queues.get(e.psid) ?? [];
    q.push(e);
    queues.set(e.psid, q);
  }
  for (const a of [...arrivals].sort((x, y) => x.at - y.at)) {
    if (a.status !== 200) continue;
    const q = queues.get(a.psid);
    const head = q?.[0];
    if (!q || !head || head.sentAt > a.at) continue;
    head.replyAt = a.at;
    q.shift();
  }
}

async function runBot(bot: BotName, workDir: string): Promise<BotRun> {
  const graph: BenchGraph = await startBenchGraph({
    appSecret: APP_SECRET,
    page: PAGE,
    latencyMs: GRAPH_LATENCY_MS,
    version: VERSION,
  });
  // Meta knows these fans wrote to the page: the 24 h window is open for every one of them.
  for (let i = 0; i < FANS; i++) graph.fake.noteUserInteraction(PAGE.id, psidOf(i));

  const dataDir = fs.mkdtempSync(path.join(workDir, `${bot}-data-`));
  const facebookEnv = {
    FACEBOOK_APP_SECRET: APP_SECRET,
    FACEBOOK_VERIFY_TOKEN: VERIFY_TOKEN,
    FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
    FACEBOOK_PAGE_ID: PAGE.id,
    GRAPH_API_VERSION: VERSION,
    PORT: '0',
  };
  const ourEnv = (role: string): Record<string, string> => ({
    ...facebookEnv,
    GRAPH_API_URL: graph.url,
    DATA_DIR: dataDir,
    LOG_LEVEL: LOG_LEVEL,
    ROLE: role,
    SEND_RATE_PER_SECOND: String(Math.min(SEND_RATE, 300)),
    ...(bot === 'ours-uncapped' ? { BENCH_SEND_RATE: String(UNCAPPED_SEND_RATE) } : {}),
  });
  const oursEntry = path.join(here, 'lib', 'ours-bot.ts');
  const logOf = (name: string) => path.join(workDir, `${name}.log`);
  // The first child takes the webhooks; `ours-split` adds a worker process (ROLE=worker) that
  // connects to the embedded database owned by the web process (ROLE=web), as two Procfile roles would.
  const children: BotChild[] = [];
  if (bot === 'botkit') {
    children.push(
      await startBotChild(
        path.join(here, 'lib', 'botkit-bot.ts'),
        { ...facebookEnv, BENCH_API_HOST: new URL(graph.url).host },
        logOf(bot),
      ),
    );
  } else if (bot === 'ours-split') {
    children.push(await startBotChild(oursEntry, ourEnv('web'), logOf(`${bot}-web`)));
    children.push(await startBotChild(oursEntry, ourEnv('worker'), logOf(`${bot}-worker`)));
  } else {
    children.push(await startBotChild(oursEntry, ourEnv('all'), logOf(bot)));
  }
  const child = children[0]!;
  const markAll = () => Promise.all(children.map((c) => c.mark()));
  const reportAll = async (): Promise<ProcessReport> => {
    const reports = await Promise.all(children.map((c) => c.report()));
    return {
      eldP50: Math.max(...reports.map((r) => r.eldP50)),
      eldP99: Math.max(...reports.map((r) => r.eldP99)),
      eldMax: Math.max(...reports.map((r) => r.eldMax)),
      cpuPercent: reports.reduce((a, r) => a + r.cpuPercent, 0),
      cpuMsTotal: reports.reduce((a, r) => a + r.cpuMsTotal, 0),
      rssMb: reports.reduce((a, r) => a + r.rssMb, 0),
    };
  };
  const agent = keepAliveAgent();
  const phases: PhaseResult[] = [];
  let fanCursor = 0;
  let unanswered: PendingEvent[] = [];
  try {
    // Warm-up (not measured): every fan writes once, so measured events come from known fans, and
    // both processes have run their code paths before the clock starts.
    process.stdout.write(`  ${bot}: warming up ${FANS} fans at ${WARMUP_RATE}/s ... `);
    await runOpenLoop({
      baseUrl: child.url,
      rate: WARMUP_RATE,
      durationMs: (FANS / WARMUP_RATE) * 1000,
      agent,
      prepare: (i) =>
        prepare(
          messagingBody(
            PAGE.id,
            postbackEvent({ pageId: PAGE.id, psid: psidOf(i % FANS), payload: 'menu:v1', title: 'Menu' }),
          ),
        ),
    });
    const warmedUp = await waitUntil(
      () => new Set(graph.arrivals.map((a) => a.psid)).size >= FANS && graph.inFlight() === 0,
      120_000,
      1000,
    );
    console.log(warmedUp ? 'done' : 'replies still missing; continuing');
    graph.arrivals.length = 0;
    const cpuAtStart = (await reportAll()).cpuMsTotal;
    let measuredEvents = 0;

    for (const rate of RATES) {
      const n = Math.max(1, Math.round((rate * DURATION_MS) / 1000));
      const events: PendingEvent[] = Array.from({ length: n }, () => {
        const psid = psidOf(fanCursor++ % FANS);
        return { psid, mid: newMid(), scheduledAt: NaN, sentAt: NaN, replyAt: NaN };
      });
      process.stdout.write(`  ${bot}: ${rate} events/s for ${DURATION_MS / 1000} s ... `);
      if (DB_COMMANDS) await Promise.all(children.map((c) => c.extra('commands')));
      await markAll();
      const loadBefore = os.loadavg()[0]!;
      const benchEld = monitorEventLoopDelay({ resolution: 5 });
      benchEld.enable();
      const benchCpu = process.cpuUsage();
      const load = await runOpenLoop({
        baseUrl: child.url,
        rate,
        durationMs: DURATION_MS,
        agent,
        prepare: (i) =>
          prepare(
            messagingBody(
              PAGE.id,
              messageEvent({ pageId: PAGE.id, psid: events[i]!.psid, mid: events[i]!.mid, text: 'menu' }),
            ),
          ),
        onSend: (i, scheduledAt) => {
          events[i]!.scheduledAt = scheduledAt;
          events[i]!.sentAt = performance.now();
        },
      });
      const loadWall = load.finishedAt - load.startedAt;
      const benchCpuUsed = process.cpuUsage(benchCpu);
      benchEld.disable();
      const childReport = await reportAll();
      const loadAfter = os.loadavg()[0]!;
      // Drain: wait for the replies (a rate-limited sender may still be working off a backlog).
      const drained = await waitUntil(
        () => graph.arrivals.filter((a) => a.status === 200).length >= n,
        DRAIN_MS,
        GRAPH_LATENCY_MS + 300,
      );
      await waitUntil(() => graph.inFlight() === 0, 5000);
      const arrivals = graph.arrivals.splice(0);
      // Replies still owed from earlier loads come first for their fans (FIFO per fan), so a late
      // reply is never taken for the answer to a newer event.
      const owed = unanswered;
      matchReplies([...owed, ...events], arrivals);
      const lateReplies = owed.filter((e) => Number.isFinite(e.replyAt)).length;
      unanswered = [...owed, ...events].filter((e) => !Number.isFinite(e.replyAt));
      const samples = load.samples;
      const ok = samples.filter((s: Sample) => s.status >= 200 && s.status < 300);
      const statuses: Record<string, number> = {};
      for (const s of samples) {
        const k = s.status === 0 ? (s.error ?? 'error') : String(s.status);
        statuses[k] = (statuses[k] ?? 0) + 1;
      }
      const replied = events.filter((e) => Number.isFinite(e.replyAt));
      const result: PhaseResult = {
        bot,
        rate,
        events: n,
        durationMs: DURATION_MS,
        achievedPerSecond: ok.length / (loadWall / 1000),
        ack: summarize(samples.map((s) => s.doneAt - s.scheduledAt).filter(Number.isFinite)),
        ackErrors: samples.length - ok.length,
        ackStatuses: statuses,
        reply: summarize(replied.map((e) => e.replyAt - e.scheduledAt)),
        repliesMissing: n - replied.length,
        sendCalls: arrivals.length,
        lateRepliesFromEarlierLoads: lateReplies,
        sendRefused: arrivals.filter((a) => a.status !== 200).length,
        messagesPerEvent: (arrivals.length - lateReplies) / n,
        lag: summarize(samples.map((s) => s.sentAt - s.scheduledAt)),
        bench: {
          eldP99: benchEld.percentile(99) / 1e6,
          cpuPercent: ((benchCpuUsed.user + benchCpuUsed.system) / 1000 / loadWall) * 100,
        },
        child: childReport,
        machineLoad: Math.max(loadBefore, loadAfter),
      };
      if (DB_COMMANDS) {
        const lists = await Promise.all(children.map((c) => c.extra<OursExtra>('commands')));
        result.dbCommands = lists.flatMap((l) => l.commands);
      }
      phases.push(result);
      measuredEvents += n;
      stageMids.set(result, events);
      console.log(
        `ack p99 ${ms(result.ack.p99)} ms, reply p99 ${ms(result.reply.p99)} ms` +
          (drained ? '' : ` (${result.repliesMissing} replies missing after ${DRAIN_MS / 1000} s)`),
      );
    }

    // CPU per event over all loads and their drains: unlike latency, it hardly depends on how busy
    // the machine is, so runs on a shared machine compare by it.
    const cpuMsPerEvent = ((await reportAll()).cpuMsTotal - cpuAtStart) / measuredEvents;
    console.log(`  ${bot}: ${cpuMsPerEvent.toFixed(2)} ms of CPU per event (all threads, loads and drains)`);
    if (bot !== 'botkit') {
      // Where the time went, from the bot's own database timestamps (wall clock, ms).
      const records = (await child.extra<OursExtra>()).stages;
      const byKey = new Map(records.map((r) => [r.key, r]));
      const wall = (perf: number): number => performance.timeOrigin + perf;
      for (const phase of phases) {
        const events = stageMids.get(phase) ?? [];
        const receivedToDone: number[] = [];
        const receivedToOutbox: number[] = [];
        const outboxToSendCall: number[] = [];
        for (const e of events) {
          const r = byKey.get(`mid:${e.mid}`);
          if (!r) continue;
          if (r.doneAt !== null) receivedToDone.push(r.doneAt - r.receivedAt);
          if (r.outboxCreatedAt !== null) receivedToOutbox.push(r.outboxCreatedAt - r.receivedAt);
          if (r.outboxCreatedAt !== null && Number.isFinite(e.replyAt))
            outboxToSendCall.push(wall(e.replyAt) - r.outboxCreatedAt);
        }
        phase.stages = {
          receivedToDone: summarize(receivedToDone),
          receivedToOutbox: summarize(receivedToOutbox),
          outboxToSendCall: summarize(outboxToSendCall),
        };
      }
    }
    return { bot, info: child.info, phases, cpuMsPerEvent };
  } finally {
    agent.destroy();
    for (const c of [...children].reverse())
      await c.stop().catch((error: unknown) => console.error(`  ${bot}: stop failed:`, error));
    await graph.close();
  }
}

const stageMids = new WeakMap<PhaseResult, PendingEvent[]>();

// ---------------------------------------------------------------------------------------------
// Report

function label(run: BotRun): string {
  switch (run.bot) {
    case 'ours':
      return `ours (send ${String(run.info.sendRatePerSecond)}/s)`;
    case 'ours-uncapped':
      return 'ours, uncapped sender*';
    case 'ours-split':
      return 'ours, web + worker processes';
    case 'botkit':
      return 'plain Botkit';
  }
}

function rows(runs: readonly BotRun[]): string[][] {
  return runs.flatMap((run) =>
    run.phases.map((p) => [
      label(run),
      String(p.rate),
      p.achievedPerSecond.toFixed(0),
      ms(p.ack.p50),
      ms(p.ack.p95),
      ms(p.ack.p99),
      ms(p.ack.max),
      String(p.ackErrors),
      ms(p.reply.p50),
      ms(p.reply.p99),
      String(p.repliesMissing),
      p.messagesPerEvent.toFixed(2),
      `${p.child.cpuPercent.toFixed(0)}%`,
      p.machineLoad.toFixed(1),
    ]),
  );
}

const HEADER = [
  'bot',
  'offered/s',
  'acked/s',
  'ack p50',
  'ack p95',
  'ack p99',
  'ack max',
  'ack errors',
  'reply p50',
  'reply p99',
  'replies missing',
  'sends/event',
  'bot CPU',
  'load avg',
];

function verdict(runs: readonly BotRun[]): string {
  const ours = runs.find((r) => r.bot === 'ours');
  const botkit = runs.find((r) => r.bot === 'botkit');
  const at = (run: BotRun | undefined) =>
    run?.phases.find((p) => p.rate === TARGET.rate) ?? run?.phases[run.phases.length - 1];
  const o = at(ours);
  if (!o) return 'VERDICT: our bot was not measured.';
  const ackOk = o.ack.p99 < TARGET.ackP99 && o.ackErrors === 0;
  const replyOk = o.reply.p99 < TARGET.replyP99 && o.repliesMissing === 0;
  const b = at(botkit);
  const vs = b
    ? ` (plain Botkit: ack p99 ${ms(b.ack.p99)} ms, reply p99 ${ms(b.reply.p99)} ms${b.repliesMissing ? `, ${b.repliesMissing} missing` : ''})`
    : '';
  return (
    `VERDICT at ${o.rate} events/s: ack p99 ${ms(o.ack.p99)} ms ${ackOk ? 'PASS' : 'FAIL'} (< ${TARGET.ackP99}), ` +
    `reply p99 ${ms(o.reply.p99)} ms ${replyOk ? 'PASS' : 'FAIL'} (< ${TARGET.replyP99})` +
    `${o.repliesMissing ? `, ${o.repliesMissing} replies missing` : ''}${vs}`
  );
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
// Main

async function main(): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-webhook-'));
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `bench:webhook${QUICK ? ' (quick)' : ''}: ${os.cpus().length} × ${cpu}, Node ${process.version}, commit ${gitCommit()}`,
  );
  console.log(
    `  loads ${RATES.join(', ')} events/s × ${DURATION_MS / 1000} s (open loop), drain ≤ ${DRAIN_MS / 1000} s, ` +
      `${FANS} fans in turn, fake Graph API latency ${GRAPH_LATENCY_MS} ms`,
  );
  console.log(
    `  ours: embedded DB in a temp data dir (journal fsync 'always'), LOG_LEVEL=${LOG_LEVEL}, ` +
      `SEND_RATE_PER_SECOND=${Math.min(SEND_RATE, 300)} (config cap 300); event = fan types "menu" → 1 reply (main menu)`,
  );
  console.log(
    "  plain Botkit: echo bot, controller.on('message') → bot.reply; FacebookAPI.callAPI patched to http:// (fake is plain HTTP)",
  );
  const [load1] = os.loadavg();
  if (load1! > os.cpus().length * 0.5)
    console.log(
      `  WARNING: load average ${load1!.toFixed(1)} on ${os.cpus().length} CPUs: other work competes with the bots; figures will be worse than on a quiet machine (see the 'load avg' column).`,
    );
  const runs: BotRun[] = [];
  try {
    for (const bot of BOTS) runs.push(await runBot(bot, workDir));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  console.log('');
  console.log(
    'Latencies in ms from the scheduled send time. Reply = webhook POST → Send API call arrives at the fake.',
  );
  console.log(table(HEADER, rows(runs)));
  if (runs.some((r) => r.bot === 'ours-uncapped'))
    console.log(
      `* page send rate raised to ${UNCAPPED_SEND_RATE}/s past the config cap: a diagnostic, not a valid setting`,
    );
  const lagMax = Math.max(...runs.flatMap((r) => r.phases.map((p) => p.lag.p99)));
  const benchCpu = Math.max(...runs.flatMap((r) => r.phases.map((p) => p.bench.cpuPercent)));
  console.log(
    `Load generator + fake Graph API (this process): send lag p99 ≤ ${ms(lagMax)} ms, CPU ≤ ${benchCpu.toFixed(0)}% of a core.`,
  );

  const staged = runs.filter((r) => r.phases.some((p) => p.stages));
  if (staged.length > 0) {
    console.log('');
    console.log('Our bot, where the time goes (from its database timestamps; p50 / p99 ms):');
    console.log(
      table(
        [
          'bot',
          'offered/s',
          'webhook → outbox row',
          'webhook → inbox done',
          'outbox row → Send API call',
          'bot event-loop delay p99',
        ],
        staged.flatMap((run) =>
          run.phases.map((p) => [
            label(run),
            String(p.rate),
            `${ms(p.stages!.receivedToOutbox.p50)} / ${ms(p.stages!.receivedToOutbox.p99)}`,
            `${ms(p.stages!.receivedToDone.p50)} / ${ms(p.stages!.receivedToDone.p99)}`,
            `${ms(p.stages!.outboxToSendCall.p50)} / ${ms(p.stages!.outboxToSendCall.p99)}`,
            ms(p.child.eldP99),
          ]),
        ),
      ),
    );
  }

  for (const run of runs) {
    for (const p of run.phases) {
      if (!p.dbCommands) continue;
      const total = p.dbCommands.reduce((a, c) => a + c.count, 0);
      console.log('');
      console.log(
        `${label(run)} at ${p.rate}/s: ${(total / p.events).toFixed(1)} database commands per event (driver-timed, ms)`,
      );
      console.log(
        table(
          ['command', 'per event', 'p50', 'p99', 'total ms'],
          p.dbCommands
            .filter((c) => c.count >= p.events / 20)
            .map((c) => [c.command, (c.count / p.events).toFixed(2), ms(c.p50), ms(c.p99), ms(c.totalMs)]),
        ),
      );
    }
  }

  console.log('');
  console.log(markdownTable(HEADER, rows(runs)));
  console.log('');
  console.log(verdict(runs));

  if (!args['no-json'] && env.BENCH_NO_JSON !== '1') {
    const dir = path.join(here, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const stamp = new Date()
      .toISOString()
      .replace(/:\d{2}\.\d{3}Z$/, '')
      .replace(':', '');
    const file = path.join(dir, `webhook-${stamp}${QUICK ? '-quick' : ''}.json`);
    fs.writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          commit: gitCommit(),
          machine: { cpus: os.cpus().length, model: cpu, node: process.version },
          options: {
            quick: QUICK,
            rates: RATES,
            durationMs: DURATION_MS,
            drainMs: DRAIN_MS,
            graphLatencyMs: GRAPH_LATENCY_MS,
            fans: FANS,
            sendRatePerSecond: Math.min(SEND_RATE, 300),
            logLevel: LOG_LEVEL,
          },
          targets: TARGET,
          runs,
          verdict: verdict(runs),
        },
        null,
        2,
      )}\n`,
    );
    console.log(`Results: ${path.relative(process.cwd(), file)}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('bench:webhook failed:', error);
    process.exit(1);
  },
);
