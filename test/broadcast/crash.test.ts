/**
 * kill -9 mid-broadcast, across real processes: the database (embedded server with a data directory)
 * and the fake Graph API live in this test process; the bot (both roles) is a child process that we
 * SIGKILL while 2,000 promotions are being sent. After a restart every eligible fan has exactly one
 * message and none is missed; sends that were in flight at the kill are counted and printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startBotProcess, type BotProcess } from '../support/child-bot.js';
import mongoose from 'mongoose';
import { pino } from 'pino';
import { broadcastStats, createBroadcast, startBroadcast } from '../../src/app/broadcasts.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { waitFor } from '../support/app.js';

const PAGE = {
  id: '320000000000001',
  name: 'Broadcast Crash Page',
  accessToken: 'BC-CRASH-PAGE-ACCESS-TOKEN-000000000001',
};
const APP_SECRET = 'broadcast-crash-app-secret';
const APP_ID = '1000000000000001';
const FANS = 2000;

describe('broadcast: kill -9 mid-way (bot as a child process)', function () {
  this.timeout(240_000);
  let dataDir: string;
  let mongo: EmbeddedMongo;
  let fake: FakeGraph;
  let graphServer: FakeGraphServer;
  const bots: BotProcess[] = [];

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'broadcast-crash-'));
    mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: pino({ level: 'silent' }) });
    fake = createFakeGraph({
      appSecret: APP_SECRET,
      appId: APP_ID,
      pages: [PAGE],
      version: 'v25.0',
      latencyMs: 100,
    });
    graphServer = await fake.listen();
    await mongoose.connect(`${mongo.uri}/bc_crash`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed')
      for (const b of bots) console.log(`--- bot output ---\n${b.output()}`);
    await Promise.all(bots.splice(0).map((b) => b.stop()));
  });

  after(async () => {
    await mongoose.disconnect();
    await graphServer?.close();
    await mongo?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('2,000 fans, killed mid-send: after restart every eligible fan has exactly one message, none missed', async () => {
    const at = new Date(Date.now() - 3_600_000);
    const psids = Array.from({ length: FANS }, (_, i) => `23000000${String(i).padStart(6, '0')}`);
    await FanModel.collection.insertMany(
      psids.map((psid) => ({
        pageId: PAGE.id,
        psid,
        locale: 'it',
        firstInteractionAt: at,
        lastInteractionAt: at,
        profileFetchedAt: at,
        tags: [],
        interests: [],
        reachable: true,
        marketingOptOut: false,
        optIns: [],
      })),
    );
    for (const psid of psids) fake.noteUserInteraction(PAGE.id, psid, at);

    const env = {
      ROLE: 'all',
      MONGODB_URI: `${mongo.uri}/bc_crash`,
      FACEBOOK_APP_SECRET: APP_SECRET,
      FACEBOOK_VERIFY_TOKEN: 'bc-crash-verify',
      FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
      FACEBOOK_PAGE_ID: PAGE.id,
      FACEBOOK_APP_ID: APP_ID,
      GRAPH_API_URL: graphServer.url,
      GRAPH_API_VERSION: 'v25.0',
      LOG_LEVEL: process.env.CRASH_TEST_LOG_LEVEL ?? 'error',
      // Short leases: the restarted bot takes the dead one's fans and jobs over in seconds. A send in
      // doubt is resent only after claim + echo grace, and its echo, first aimed at the dead bot, is
      // retried with backoff (at +15.75 s, +30.75 s, +60.75 s): the window stays 75 s, as by default.
      INBOX_LEASE_SECONDS: '5',
      OUTBOX_CLAIM_SECONDS: '15',
      OUTBOX_ECHO_GRACE_SECONDS: '60',
      JOB_LEASE_SECONDS: '10',
    };
    const first = await startBotProcess(env, { readyTimeoutMs: 120_000 });
    bots.push(first);
    // The fake Graph API echoes every accepted send to the bot's webhook (message_echoes, metadata ob:<id>).
    fake.setEchoWebhook({ url: `${first.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });

    const ctx = () => ({ pageId: PAGE.id, now: new Date() });
    const created = await createBroadcast(ctx(), {
      name: 'crash',
      purpose: 'promotion',
      contents: [{ locale: 'it', text: 'Anteprima riservata' }],
      segment: { definition: { rules: [] } },
    });
    if (!created.ok) throw new Error(JSON.stringify(created));
    const id = created.broadcast.id;
    await startBroadcast(ctx(), id);

    await waitFor(() => fake.messages.length >= 600, 60_000);
    await first.kill9();
    const killedAt = new Date();
    const sentAtKill = fake.messages.length;
    const inFlight = await OutboxMessageModel.collection.countDocuments({
      'origin.id': id,
      state: 'pending',
      leaseUntil: { $gt: killedAt },
    });
    const queuedAtKill = await OutboxMessageModel.collection.countDocuments({ 'origin.id': id });
    const cursorAtKill = (await broadcastStats(ctx(), id))!;

    const restartedAt = Date.now();
    const second = await startBotProcess(env, { readyTimeoutMs: 120_000 });
    bots.push(second);
    fake.setEchoWebhook({ url: `${second.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });
    const stats = await waitFor(async () => {
      const s = await broadcastStats(ctx(), id);
      return s?.state === 'completed' ? s : undefined;
    }, 150_000);
    const recoveredMs = Date.now() - restartedAt;

    const perFan = new Map<string, number>();
    for (const m of fake.messages) perFan.set(m.psid ?? '', (perFan.get(m.psid ?? '') ?? 0) + 1);
    const missed = psids.filter((p) => !perFan.has(p));
    const repeated = psids.filter((p) => (perFan.get(p) ?? 0) > 1);
    const duplicates = [...perFan.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    console.log(
      `      broadcast crash figures: Send API calls before kill ${sentAtKill}, records queued at kill ${queuedAtKill} ` +
        `(cursor committed ${cursorAtKill.counters.targeted}), in flight at kill ${inFlight}, total messages ${fake.messages.length} ` +
        `for ${FANS} fans, missed ${missed.length}, duplicates ${duplicates}, recovery ${recoveredMs} ms`,
    );
    expect(missed, 'fans without their message').to.deep.equal([]);
    expect(duplicates, 'repeated sends beyond the in-flight ones').to.be.at.most(inFlight);
    expect(repeated.length).to.equal(duplicates);
    expect(stats.counters.targeted).to.equal(FANS);
    expect(stats.counters.queued).to.equal(FANS);
    expect(stats.counters.sent).to.equal(FANS);
    expect(await OutboxMessageModel.collection.countDocuments({ 'origin.id': id })).to.equal(FANS);
    if (process.env.BROADCAST_CRASH_STRICT !== '0')
      expect(duplicates, 'duplicates (echo confirmation)').to.equal(0);
  });
});
