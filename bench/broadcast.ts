/**
 * bench:broadcast — a promotion to a large segment, through the real app, at the page's rate limit.
 *
 *   npm run bench:broadcast             # 10,000 then 100,000 fans (memory compared), ~9 min
 *   npm run bench:broadcast -- --quick  # 10,000 fans, ~1 min
 *   npm run bench:broadcast -- --sizes 2000,20000 --latency 150 --rate 250 --no-echo
 *   npm run bench:broadcast -- --sizes 100000 --sends 20000   # the first 20,000 sends of a 100k segment
 *
 * Processes: the bot (ROLE=all, exactly as `npm start` with real Facebook settings) runs in a child
 * process, so its memory is its own. This process holds the database (the embedded server, journalled
 * in a temporary directory) and the fake Graph API, answering after `--latency` ms and — as Meta does
 * for an app subscribed to message_echoes — echoing every accepted send back to the bot's webhook.
 *
 * For each size: fans are inserted with insertMany (batches of 5,000; all inside their 24 h window),
 * the bot is started, a promotion to "every fan" is created and started here (the worker picks it up
 * within a second), and the bench prints: time to the first send, time to queue the whole segment
 * (queueing stays a bounded distance ahead of the sender by design, so it ends near the last send),
 * the achieved send rate (target ≥ 95% of the page limit), and the bot's peak RSS / heap sampled every
 * second (bounded: it must not grow with the segment). It also prints the CPU time each process spent
 * per send (the bot; this process: database and fake Graph API), which a busy machine slows down less
 * than it slows the rate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { pino } from 'pino';
import { broadcastStats, createBroadcast, startBroadcast } from '../src/app/broadcasts.js';
import { loadConfig } from '../src/config/index.js';
import { BroadcastModel } from '../src/db/models/broadcast.js';
import { FanModel } from '../src/db/models/fan.js';
import { startEmbeddedMongo } from '../src/db/embedded/index.js';
import { createFakeGraph } from '../src/dev/fake-graph/index.js';
import { createLogger } from '../src/log.js';
import { startApp, type RunningApp } from '../src/server.js';
import { serveBench, startBotChild } from './lib/child.js';

const SELF = fileURLToPath(import.meta.url);
const PAGE = {
  id: '330000000000001',
  name: 'Broadcast Bench Page',
  accessToken: 'BENCH-BROADCAST-PAGE-TOKEN-0000000000001',
};
const APP_SECRET = 'bench-broadcast-app-secret';
const APP_ID = '1000000000000001';

interface MemorySample {
  t: number;
  rssMb: number;
  heapMb: number;
  /** CPU time (user + system) used so far, in ms. */
  cpuMs: number;
}
interface ChildMemory {
  samples: MemorySample[];
  peakRssMb: number;
  peakHeapMb: number;
}

// -------------------------------------------------------------------------------------------------
// Child: the bot, sampling its own memory every second.

if (process.env.BENCH_BROADCAST_CHILD === '1') {
  let app: RunningApp | undefined;
  const samples: MemorySample[] = [];
  const sample = () => {
    const m = process.memoryUsage();
    const c = process.cpuUsage();
    samples.push({
      t: Date.now(),
      rssMb: m.rss / 1048576,
      heapMb: m.heapUsed / 1048576,
      cpuMs: (c.user + c.system) / 1000,
    });
  };
  const timer = setInterval(sample, 1000);
  timer.unref();
  serveBench({
    async start() {
      const config = loadConfig(process.env);
      app = await startApp({ config, log: createLogger(config.logLevel), graphUrl: config.graph.url });
      sample();
      return { url: app.url, info: { sendRatePerSecond: config.sendRatePerSecond } };
    },
    async stop() {
      clearInterval(timer);
      await app?.stop();
    },
    async extra(arg: unknown): Promise<ChildMemory> {
      sample();
      const from = typeof arg === 'number' ? arg : 0;
      const window = samples.filter((s) => s.t >= from);
      return {
        samples: window,
        peakRssMb: Math.max(...window.map((s) => s.rssMb)),
        peakHeapMb: Math.max(...window.map((s) => s.heapMb)),
      };
    },
  });
} else {
  await main();
}

// -------------------------------------------------------------------------------------------------
// Parent

interface RunResult {
  fans: number;
  insertMs: number;
  firstSendMs: number;
  queuedMs: number;
  lastSendMs: number;
  sent: number;
  duplicates: number;
  overallRate: number;
  steadyRate: number;
  baselineRssMb: number;
  peakRssMb: number;
  peakHeapMb: number;
  /** CPU ms per send from the first to the last send: the bot, and this process (database + fake Graph). */
  botCpuMsPerSend: number;
  dbAndGraphCpuMsPerSend: number;
  loadAvg: number[];
  counters: Record<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      rate: { type: 'string', default: '250' },
      latency: { type: 'string', default: '150' },
      'no-echo': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
      sends: { type: 'string' },
    },
  });
  const maxSends = values.sends ? Number(values.sends) : undefined;
  const sizes = values.sizes
    ? values.sizes.split(',').map(Number)
    : values.quick
      ? [10_000]
      : [10_000, 100_000];
  const rate = Number(values.rate);
  const latency = Number(values.latency);
  const echo = !values['no-echo'];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-broadcast-'));
  console.log(
    `bench:broadcast — sizes ${sizes.join(', ')}, page rate ${rate}/s (target ≥ ${Math.ceil(rate * 0.95)}/s), ` +
      `Graph latency ${latency} ms, echoes ${echo ? 'on' : 'off'}, ${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: pino({ level: 'silent' }) });
  const results: RunResult[] = [];
  try {
    for (const [i, n] of sizes.entries()) {
      results.push(await runOne(mongo.uri, `bench_bc_${i}`, n, rate, latency, echo, dataDir, maxSends));
    }
  } finally {
    await mongo.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  console.log(
    '\n| fans | insert | first send | queued all | last send | sent | dup | rate (overall / steady) | bot RSS base → peak | heap peak | CPU ms/send bot · db+graph | load |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.fans.toLocaleString('en')} | ${(r.insertMs / 1000).toFixed(1)} s | ${(r.firstSendMs / 1000).toFixed(1)} s | ` +
        `${(r.queuedMs / 1000).toFixed(1)} s | ${(r.lastSendMs / 1000).toFixed(1)} s | ${r.sent} | ${r.duplicates} | ` +
        `${r.overallRate.toFixed(1)} / ${r.steadyRate.toFixed(1)} /s | ${r.baselineRssMb.toFixed(0)} → ${r.peakRssMb.toFixed(0)} MB | ` +
        `${r.peakHeapMb.toFixed(0)} MB | ${r.botCpuMsPerSend.toFixed(2)} · ${r.dbAndGraphCpuMsPerSend.toFixed(2)} | ${r.loadAvg.map((l) => l.toFixed(1)).join(' ')} |`,
    );
  }
  for (const r of results) {
    const ok = r.steadyRate >= rate * 0.95;
    console.log(
      `${r.fans} fans: steady ${r.steadyRate.toFixed(1)}/s ${ok ? '≥' : '<'} ${(rate * 0.95).toFixed(1)}/s target — ${ok ? 'MET' : 'NOT MET'}; counters ${JSON.stringify(r.counters)}`,
    );
  }
  if (results.length > 1) {
    const a = results[0]!;
    const b = results[results.length - 1]!;
    console.log(
      `memory: ${a.fans} fans peak RSS ${a.peakRssMb.toFixed(0)} MB (heap ${a.peakHeapMb.toFixed(0)}), ` +
        `${b.fans} fans peak RSS ${b.peakRssMb.toFixed(0)} MB (heap ${b.peakHeapMb.toFixed(0)}): ×${(b.peakRssMb / a.peakRssMb).toFixed(2)} for ×${(b.fans / a.fans).toFixed(0)} fans`,
    );
  }
  if (!values['no-json']) {
    const dir = path.join(path.dirname(SELF), 'results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(
      dir,
      `broadcast-${new Date().toISOString().slice(0, 16).replace(/[:]/g, '')}${values.quick ? '-quick' : ''}.json`,
    );
    fs.writeFileSync(
      file,
      JSON.stringify(
        { date: new Date(), options: { sizes, rate, latency, echo, maxSends }, results },
        null,
        2,
      ),
    );
    console.log(`results written to ${path.relative(process.cwd(), file)}`);
  }
}

async function runOne(
  mongoUri: string,
  dbName: string,
  n: number,
  rate: number,
  latency: number,
  echo: boolean,
  dataDir: string,
  maxSends: number | undefined,
): Promise<RunResult> {
  const uri = `${mongoUri}/${dbName}`;
  const fake = createFakeGraph({
    appSecret: APP_SECRET,
    appId: APP_ID,
    pages: [PAGE],
    version: 'v25.0',
    latencyMs: latency,
  });
  const graph = await fake.listen();
  await mongoose.connect(uri);
  try {
    // Fans, fast: insertMany in batches; every one inside the 24 h window (here and for Meta).
    const insertStart = Date.now();
    const at = new Date(Date.now() - 3_600_000);
    for (let i = 0; i < n; i += 5000) {
      const docs = [];
      for (let j = i; j < Math.min(n, i + 5000); j++) {
        const psid = `24${String(j).padStart(14, '0')}`;
        docs.push({
          pageId: PAGE.id,
          psid,
          locale: j % 3 === 0 ? 'en' : 'it',
          firstInteractionAt: at,
          lastInteractionAt: at,
          profileFetchedAt: at,
          tags: [],
          interests: [],
          reachable: true,
          marketingOptOut: false,
          optIns: [],
        });
        fake.noteUserInteraction(PAGE.id, psid, at);
      }
      await FanModel.collection.insertMany(docs, { ordered: false });
    }
    const insertMs = Date.now() - insertStart;
    console.log(`\n[${n} fans] inserted in ${(insertMs / 1000).toFixed(1)} s; starting the bot`);

    const bot = await startBotChild(
      SELF,
      {
        BENCH_BROADCAST_CHILD: '1',
        PORT: '0',
        ROLE: 'all',
        MONGODB_URI: uri,
        FACEBOOK_APP_SECRET: APP_SECRET,
        FACEBOOK_VERIFY_TOKEN: 'bench-broadcast-verify',
        FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
        FACEBOOK_PAGE_ID: PAGE.id,
        FACEBOOK_APP_ID: APP_ID,
        GRAPH_API_URL: graph.url,
        GRAPH_API_VERSION: 'v25.0',
        SEND_RATE_PER_SECOND: String(rate),
        LOG_LEVEL: 'warn',
      },
      path.join(dataDir, `bot-${n}.log`),
    );
    if (echo) fake.setEchoWebhook({ url: `${bot.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });
    await new Promise((r) => setTimeout(r, 2000));
    const baseline = await bot.extra<ChildMemory>(Date.now() - 1500);

    const ctx = () => ({ pageId: PAGE.id, now: new Date() });
    const created = await createBroadcast(ctx(), {
      name: `bench ${n}`,
      purpose: 'promotion',
      contents: [
        { locale: 'it', text: 'Nuova collezione in anteprima: scoprila ora' },
        { locale: 'en', text: 'New collection, early access: see it now' },
      ],
      segment: { definition: { rules: [] } },
      frequencyCap: null,
    });
    if (!created.ok) throw new Error(JSON.stringify(created));
    const id = created.broadcast.id;
    const t0 = Date.now();
    await startBroadcast(ctx(), id);

    let lastLog = 0;
    let queuedAt: number | undefined;
    const target = Math.min(n, maxSends ?? n);
    let lastSent = 0;
    let lastProgressAt = Date.now();
    // CPU of this process (database + fake Graph API) between the first and the last counted send.
    let parentCpuAtFirst: number | undefined;
    let botCpuAtFirst: number | undefined;
    const cpuNow = () => {
      const c = process.cpuUsage();
      return (c.user + c.system) / 1000;
    };
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const sent = fake.messages.length;
      if (parentCpuAtFirst === undefined && sent > 0) {
        parentCpuAtFirst = cpuNow();
        const m = await bot.extra<ChildMemory>(Date.now() - 1000);
        botCpuAtFirst = m.samples[m.samples.length - 1]!.cpuMs;
      }
      if (queuedAt === undefined) {
        const b = await BroadcastModel.collection.findOne(
          { _id: new mongoose.Types.ObjectId(id) },
          { projection: { cursor: 1 } },
        );
        if (b?.cursor?.queueingDoneAt) queuedAt = (b.cursor.queueingDoneAt as Date).getTime();
      }
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const elapsed = (Date.now() - t0) / 1000;
        console.log(
          `  ${elapsed.toFixed(0)} s: ${sent} sent (${(sent / Math.max(1, elapsed)).toFixed(0)}/s so far)`,
        );
      }
      if (sent >= target && (target < n || queuedAt !== undefined)) break;
      // Stuck means no progress for two minutes, not slow: a busy shared machine is only slow.
      if (sent > lastSent) {
        lastSent = sent;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > 120_000) throw new Error(`stuck at ${sent}/${n}`);
    }
    const memory = await bot.extra<ChildMemory>(t0);
    const parentCpu = cpuNow() - (parentCpuAtFirst ?? 0);
    const botCpu = memory.samples[memory.samples.length - 1]!.cpuMs - (botCpuAtFirst ?? 0);
    const sentInWindow = fake.messages.length;
    const loadAvg = os.loadavg();
    const stats = await broadcastStats(ctx(), id);
    await bot.stop();

    const times = fake.messages.map((m) => m.at.getTime()).sort((a, b) => a - b);
    const first = times[0]!;
    const last = times[times.length - 1]!;
    // Steady state: the middle 90% of sends (ramp-up and tail excluded).
    const lo = times[Math.floor(times.length * 0.05)]!;
    const hi = times[Math.floor(times.length * 0.95)]!;
    const steadyRate =
      (Math.floor(times.length * 0.95) - Math.floor(times.length * 0.05)) / ((hi - lo) / 1000);
    const psids = new Set(fake.messages.map((m) => m.psid));
    return {
      fans: n,
      insertMs,
      firstSendMs: first - t0,
      queuedMs: (queuedAt ?? last) - t0,
      lastSendMs: last - t0,
      sent: fake.messages.length,
      duplicates: fake.messages.length - psids.size,
      overallRate: times.length / ((last - t0) / 1000),
      steadyRate,
      baselineRssMb: baseline.peakRssMb,
      peakRssMb: memory.peakRssMb,
      peakHeapMb: memory.peakHeapMb,
      botCpuMsPerSend: botCpu / sentInWindow,
      dbAndGraphCpuMsPerSend: parentCpu / sentInWindow,
      loadAvg,
      counters: { ...(stats?.counters ?? {}) } as unknown as Record<string, number>,
    };
  } finally {
    await mongoose.disconnect();
    await graph.close();
  }
}
