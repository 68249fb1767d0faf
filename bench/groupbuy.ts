/**
 * bench:groupbuy — group buys under contention and the tipping announcement at the page rate.
 *
 *   npm run bench:groupbuy
 *   npm run bench:groupbuy -- --joins 2000 --seats 100 --participants 1000 --latency 150 --rate 250
 *
 * 1. Joins/s: N concurrent joiners on ONE campaign through the service (`joinCampaign`, the same call
 *    the Messenger flow makes, announcement left to `afterJoin` as the flow does) against the
 *    embedded database: a capped campaign (N joins on `--seats` seats: the rest waitlisted, never an
 *    oversell) and an uncapped one. Per-join latency percentiles and the final counts are checked.
 * 2. Announcement: a campaign one short of its minimum with `--participants − 1` participants written
 *    directly; the real app (worker role: inbox processor, outbox sender, jobs; in this process, on the
 *    same database) sends through a fake Graph API answering after `--latency` ms at
 *    SEND_RATE_PER_SECOND `--rate`. The last join goes through the service with the announcement, as
 *    the flow's afterJoin does; the bench times the join call (incl. queueing 1,000 messages with one
 *    order each), the first and the last tipping message arriving at the fake Graph API.
 *    Expected: participants / rate (1,000 / 250 = 4 s) plus overhead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { pino } from 'pino';
import { upsertProduct } from '../src/app/catalog.js';
import {
  afterJoin,
  createCampaign,
  joinCampaign,
  openCampaign,
  type GroupBuyContext,
} from '../src/app/groupbuy.js';
import { loadConfig } from '../src/config/index.js';
import { CampaignModel } from '../src/db/models/campaign.js';
import { FanModel } from '../src/db/models/fan.js';
import { PledgeModel } from '../src/db/models/pledge.js';
import { startEmbeddedMongo } from '../src/db/embedded/index.js';
import { money } from '../src/domain/money.js';
import { silentLogger } from '../src/log.js';
import { startApp } from '../src/server.js';
import { startBenchGraph } from './lib/graph.js';
import { summarize, table } from './lib/stats.js';

const PAGE = {
  id: '350000000000001',
  name: 'Group Buy Bench Page',
  accessToken: 'BENCH-GROUPBUY-PAGE-TOKEN-000000000001',
};
const APP_SECRET = 'bench-groupbuy-app-secret';
const TITLE = 'Jeans del bench';

const { values } = parseArgs({
  options: {
    joins: { type: 'string', default: '2000' },
    seats: { type: 'string', default: '100' },
    participants: { type: 'string', default: '1000' },
    latency: { type: 'string', default: '150' },
    rate: { type: 'string', default: '250' },
  },
});
const JOINS = Number(values.joins);
const SEATS = Number(values.seats);
const PARTICIPANTS = Number(values.participants);
const LATENCY = Number(values.latency);
const RATE = Number(values.rate);

const config = loadConfig({
  MONGODB_URI: 'mongodb://127.0.0.1:1/unused',
  FACEBOOK_APP_SECRET: APP_SECRET,
  FACEBOOK_VERIFY_TOKEN: 'bench-groupbuy-verify',
  FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
  FACEBOOK_PAGE_ID: PAGE.id,
  GRAPH_API_VERSION: 'v25.0',
  SEND_RATE_PER_SECOND: String(RATE),
  PORT: '0',
  ROLE: 'worker',
  LOG_LEVEL: 'warn',
});
const ctx = (): GroupBuyContext => ({ pageId: PAGE.id, now: new Date(), config });

let slug = 0;
async function newCampaign(minQuantity: number, maxQuantity: number | null): Promise<string> {
  const created = await createCampaign(ctx(), {
    slug: `BENCH${++slug}`,
    productSku: 'GBB',
    variantSku: 'GBB-S',
    minQuantity,
    maxQuantity,
    deadline: new Date(Date.now() + 2 * 86_400_000),
    tiers: [{ fromQuantity: 0, unitPrice: 2990 }],
    perFanLimit: 1,
    texts: { it: { title: TITLE, description: '' }, en: { title: TITLE, description: '' } },
  });
  if (!created.ok) throw new Error(JSON.stringify(created));
  const opened = await openCampaign(ctx(), created.campaign.id);
  if (!opened.ok) throw new Error(JSON.stringify(opened));
  return created.campaign.id;
}

interface JoinRow {
  name: string;
  joins: number;
  ms: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  joined: number;
  waitlisted: number;
  committed: number;
  ok: boolean;
}

async function contention(
  name: string,
  campaignId: string,
  prefix: string,
  cap: number | null,
): Promise<JoinRow> {
  const latencies: number[] = [];
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: JOINS }, async (_, i) => {
      const t0 = performance.now();
      const r = await joinCampaign(
        ctx(),
        {
          campaignId,
          psid: `${prefix}${String(i).padStart(6, '0')}`,
          quantity: 1,
          variantSku: 'GBB-S',
          source: { type: 'menu' },
        },
        { announce: false },
      );
      latencies.push(performance.now() - t0);
      return r;
    }),
  );
  const ms = performance.now() - started;
  const joined = results.filter((r) => r.code === 'joined').length;
  const waitlisted = results.filter((r) => r.code === 'waitlisted').length;
  const c = (await CampaignModel.findById(campaignId).lean())!;
  const active = await PledgeModel.countDocuments({ campaignId: c._id, state: 'active' });
  const expected = cap ?? JOINS;
  const s = summarize(latencies);
  return {
    name,
    joins: JOINS,
    ms,
    perSecond: JOINS / (ms / 1000),
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    joined,
    waitlisted,
    committed: c.committed,
    ok:
      joined === expected && active === expected && c.committed === expected && joined + waitlisted === JOINS,
  };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-groupbuy-'));
  console.log(
    `bench:groupbuy — ${JOINS} concurrent joins (on ${SEATS} seats, and uncapped), announcement to ${PARTICIPANTS} ` +
      `participants at ${RATE}/s with Graph latency ${LATENCY} ms; ${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: pino({ level: 'silent' }) });
  await mongoose.connect(`${mongo.uri}/bench_groupbuy`);
  await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
  const graph = await startBenchGraph({
    appSecret: APP_SECRET,
    page: PAGE,
    latencyMs: LATENCY,
    version: 'v25.0',
  });
  try {
    await upsertProduct(
      { pageId: PAGE.id },
      {
        sku: 'GBB',
        category: { slug: 'jeans', name: { it: 'Jeans', en: 'Jeans' } },
        title: { it: TITLE, en: TITLE },
        description: { it: '', en: '' },
        images: [],
        price: money(4990, 'EUR'),
        variants: [{ sku: 'GBB-S', size: 'S', colour: 'Blu', stock: 100_000, priceOverride: undefined }],
        active: true,
        tags: [],
      },
    );

    // 1. Contention.
    const rows: JoinRow[] = [];
    rows.push(await contention(`capped (${SEATS} seats)`, await newCampaign(SEATS, SEATS), '81', SEATS));
    rows.push(await contention('uncapped', await newCampaign(JOINS * 10, null), '82', null));
    console.log('\nJoins through the service, all at once on one campaign:');
    console.log(
      table(
        [
          'campaign',
          'joins',
          'wall',
          'joins/s',
          'p50',
          'p99',
          'max',
          'joined',
          'waitlisted',
          'committed',
          'invariant',
        ],
        rows.map((r) => [
          r.name,
          String(r.joins),
          `${(r.ms / 1000).toFixed(2)} s`,
          r.perSecond.toFixed(0),
          `${r.p50.toFixed(0)} ms`,
          `${r.p99.toFixed(0)} ms`,
          `${r.max.toFixed(0)} ms`,
          String(r.joined),
          String(r.waitlisted),
          String(r.committed),
          r.ok ? 'ok' : 'BROKEN',
        ]),
      ),
    );

    // 2. Announcement at the page rate.
    const now = new Date();
    const psids = Array.from({ length: PARTICIPANTS }, (_, i) => `83${String(i).padStart(10, '0')}`);
    await FanModel.collection.insertMany(
      psids.map((psid) => ({
        pageId: PAGE.id,
        psid,
        locale: 'it',
        firstInteractionAt: now,
        lastInteractionAt: now,
        profileFetchedAt: now,
        tags: [],
        interests: [],
        reachable: true,
        marketingOptOut: false,
        optIns: [],
      })),
    );
    for (const psid of psids) graph.fake.noteUserInteraction(PAGE.id, psid, now);
    const id = await newCampaign(PARTICIPANTS, null);
    await CampaignModel.updateOne(
      { _id: new mongoose.Types.ObjectId(id) },
      { $set: { committed: PARTICIPANTS - 1, pledgeCount: PARTICIPANTS - 1 } },
    );
    await PledgeModel.collection.insertMany(
      psids.slice(0, -1).map((psid) => ({
        pageId: PAGE.id,
        campaignId: new mongoose.Types.ObjectId(id),
        psid,
        quantity: 1,
        variantSku: 'GBB-S',
        state: 'active',
        waitlistPosition: null,
        source: { type: 'menu' },
        priceAtTipping: null,
        orderId: null,
        movedToCampaignId: null,
        createdAt: now,
        joinedAt: now,
        leftAt: null,
      })),
    );
    const app = await startApp({ config, log: silentLogger, graphUrl: graph.url, database: 'external' });
    await new Promise((r) => setTimeout(r, 2000)); // start-up catch-up jobs out of the way
    graph.arrivals.length = 0;
    const mark = `«${TITLE}» si fa`;
    const t0 = performance.now();
    const result = await joinCampaign(
      ctx(),
      {
        campaignId: id,
        psid: psids[psids.length - 1]!,
        quantity: 1,
        variantSku: 'GBB-S',
        source: { type: 'menu' },
      },
      { announce: false },
    );
    const joinedMs = performance.now() - t0;
    if (result.code !== 'joined' || !result.tippedNow)
      throw new Error(`expected the tipping join: ${JSON.stringify(result)}`);
    app.sender?.wake();
    await afterJoin(ctx(), result);
    const queuedMs = performance.now() - t0;
    const deadline = Date.now() + 120_000;
    const tipping = () =>
      graph.arrivals.filter((a) => a.status === 200 && a.psid !== '' && a.text === undefined);
    while (tipping().length < PARTICIPANTS && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const sent = tipping();
    const firstMs = (sent[0]?.at ?? NaN) - t0;
    const lastMs = (sent[sent.length - 1]?.at ?? NaN) - t0;
    const distinct = new Set(sent.map((a) => a.psid)).size;
    await app.stop();
    const texts = graph.fake.messages.filter((m) => JSON.stringify(m.message).includes(mark)).length;
    const steady =
      sent.length > 1 ? (sent.length - 1) / ((sent[sent.length - 1]!.at - sent[0]!.at) / 1000) : NaN;
    console.log(
      `\nTipping announcement to ${PARTICIPANTS} participants (worker in this process, fake Graph API ${LATENCY} ms, ${RATE}/s):`,
    );
    console.log(
      table(
        [
          'participants',
          'tipping join',
          'all queued (1 order each)',
          'first message',
          'last message',
          'rate',
          'messages',
          'distinct fans',
        ],
        [
          [
            String(PARTICIPANTS),
            `${joinedMs.toFixed(0)} ms`,
            `${(queuedMs / 1000).toFixed(2)} s`,
            `${firstMs.toFixed(0)} ms`,
            `${(lastMs / 1000).toFixed(2)} s`,
            `${steady.toFixed(0)}/s`,
            String(texts),
            String(distinct),
          ],
        ],
      ),
    );
    console.log(
      `expected ≈ ${(PARTICIPANTS / RATE).toFixed(1)} s at ${RATE}/s + overhead; measured ${(lastMs / 1000).toFixed(2)} s from the tipping join to the last participant's message`,
    );
  } finally {
    await graph.close();
    await mongoose.disconnect();
    await mongo.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
