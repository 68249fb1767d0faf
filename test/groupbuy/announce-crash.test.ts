/**
 * kill -9 mid tipping announcement, across real processes. The database (embedded server with a data
 * directory) and the fake Graph API (~50 ms per call, echoing every accepted send to the bot's
 * webhook as Meta does for `message_echoes`) live in this test process; the bot (both roles) is a child
 * process. A campaign one unit short of its minimum has 999 participants (written directly); the
 * 1,000th joins through the webhook and tips it; the bot is SIGKILLed while the 1,000 tipping messages
 * are going out, and restarted. Every participant must end with exactly one tipping message: the
 * outbox keys prevent re-sends, the safety-net job resumes an announcement cut short, and a send left
 * in doubt by the kill is confirmed by its echo (`metadata: ob:<id>`) instead of being sent again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startBotProcess, type BotProcess } from '../support/child-bot.js';
import mongoose, { Types } from 'mongoose';
import { pino } from 'pino';
import { upsertProduct } from '../../src/app/catalog.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { FanModel } from '../../src/db/models/fan.js';
import { JobRunModel } from '../../src/db/models/job-run.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { messagingBody, postbackEvent, postSignedWebhook } from '../../src/dev/webhook-payloads.js';
import { waitFor } from '../support/app.js';
import { sampleProduct } from '../shop/helpers.js';

const PAGE = {
  id: '340000000000001',
  name: 'Group Buy Crash Page',
  accessToken: 'GB-CRASH-PAGE-ACCESS-TOKEN-00000000001',
};
const APP_SECRET = 'gb-crash-app-secret';
const APP_ID = '1000000000000001';
const PARTICIPANTS = 1000;
const TITLE = 'Jeans del crash test';
/** What only the tipping message says (it): "«<title>» si fa: abbiamo raggiunto il minimo!". */
const TIPPING_MARK = `«${TITLE}» si fa`;

/** The machine may be busy: a bot's start-up gets two minutes. */
const startBot = (env: Record<string, string>) => startBotProcess(env, { readyTimeoutMs: 120_000 });

describe('group buy: kill -9 mid tipping announcement to 1,000 participants (bot as a child process)', function () {
  // In-doubt sends wait for their claim and echo grace (75 s together); the safety net that resumes
  // the announcement runs at the next minute tick.
  this.timeout(360_000);
  let dataDir: string;
  let mongo: EmbeddedMongo;
  let fake: FakeGraph;
  let graphServer: FakeGraphServer;
  const bots: BotProcess[] = [];

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'gb-announce-crash-'));
    mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: pino({ level: 'silent' }) });
    fake = createFakeGraph({
      appSecret: APP_SECRET,
      appId: APP_ID,
      pages: [PAGE],
      version: 'v25.0',
      latencyMs: 50,
    });
    graphServer = await fake.listen();
    await mongoose.connect(`${mongo.uri}/gb_crash`);
    await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
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

  it('after the restart every participant has exactly one tipping message: none missed, none repeated', async () => {
    const now = new Date();
    const lastAt = new Date(now.getTime() - 3_600_000);
    const psids = Array.from({ length: PARTICIPANTS }, (_, i) => `24000000${String(i).padStart(6, '0')}`);
    await upsertProduct({ pageId: PAGE.id }, sampleProduct('GBC'));
    await FanModel.collection.insertMany(
      psids.map((psid) => ({
        pageId: PAGE.id,
        psid,
        locale: 'it',
        firstInteractionAt: lastAt,
        lastInteractionAt: lastAt,
        profileFetchedAt: lastAt,
        tags: [],
        interests: [],
        reachable: true,
        marketingOptOut: false,
        optIns: [],
      })),
    );
    for (const psid of psids) fake.noteUserInteraction(PAGE.id, psid, lastAt);
    const campaign = await CampaignModel.create({
      pageId: PAGE.id,
      slug: 'CRASH1000',
      productSku: 'GBC',
      variantSku: 'GBC-S',
      minQuantity: PARTICIPANTS,
      maxQuantity: null,
      deadline: new Date(now.getTime() + 2 * 86_400_000),
      tiers: [{ fromQuantity: 0, unitPrice: 2990 }],
      currency: 'EUR',
      perFanLimit: 1,
      texts: { it: { title: TITLE, description: '' }, en: { title: TITLE, description: '' } },
      state: 'open',
      openedAt: lastAt,
      committed: PARTICIPANTS - 1,
      pledgeCount: PARTICIPANTS - 1,
    });
    const campaignId = String(campaign._id);
    await PledgeModel.collection.insertMany(
      psids.slice(0, -1).map((psid) => ({
        pageId: PAGE.id,
        campaignId: campaign._id,
        psid,
        quantity: 1,
        variantSku: 'GBC-S',
        state: 'active',
        waitlistPosition: null,
        source: { type: 'menu' },
        priceAtTipping: null,
        orderId: null,
        movedToCampaignId: null,
        createdAt: lastAt,
        joinedAt: lastAt,
        leftAt: null,
      })),
    );

    const env = {
      ROLE: 'all',
      MONGODB_URI: `${mongo.uri}/gb_crash`,
      FACEBOOK_APP_SECRET: APP_SECRET,
      FACEBOOK_VERIFY_TOKEN: 'gb-crash-verify',
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
    const first = await startBot(env);
    bots.push(first);
    fake.setEchoWebhook({ url: `${first.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });

    // Tip once the start-up catch-up is over, so the announcement is the only thing in flight. A job
    // killed mid-run blocks its next run only for JOB_LEASE_SECONDS (10 s here), so the kill may come
    // at any point of the minute.
    await waitFor(async () => {
      const done = await JobRunModel.collection.countDocuments({ jobId: 'groupbuy-reconcile' });
      const running = await JobRunModel.collection.countDocuments({ outcome: 'running' });
      return done > 0 && running === 0;
    }, 60_000);

    // The 1,000th participant taps "1" on the quantity question: this join tips the campaign.
    const last = psids[psids.length - 1]!;
    const event = postbackEvent({
      pageId: PAGE.id,
      psid: last,
      payload: `gb.qty:v1:${campaignId}:GBC-S:1`,
      title: '1',
    });
    fake.noteUserInteraction(PAGE.id, last, new Date(event.timestamp ?? Date.now()));
    const res = await postSignedWebhook(
      `${first.url}/api/messages`,
      messagingBody(PAGE.id, event),
      APP_SECRET,
    );
    expect(res.status).to.equal(200);

    const tippingTo = (psid: string) =>
      fake.messagesTo(psid).filter((m) => JSON.stringify(m.message).includes(TIPPING_MARK));
    const tippingSent = () => fake.messages.filter((m) => JSON.stringify(m.message).includes(TIPPING_MARK));
    const tippedAt = Date.now();
    await waitFor(() => tippingSent().length >= 250, 120_000);
    await first.kill9();
    const killedAt = new Date();
    const killMs = killedAt.getTime() - tippedAt;
    const sentAtKill = tippingSent().length;
    const tippedKeys = { idempotencyKey: { $regex: `^gb:${campaignId}:.*:tipped$` } };
    const queuedAtKill = await OutboxMessageModel.collection.countDocuments(tippedKeys);
    const inFlight = await OutboxMessageModel.collection.countDocuments({
      ...tippedKeys,
      state: 'pending',
      leaseUntil: { $gt: killedAt },
    });
    expect(sentAtKill, 'killed before the announcement finished').to.be.below(PARTICIPANTS);

    const restartedAt = Date.now();
    const second = await startBot(env);
    bots.push(second);
    fake.setEchoWebhook({ url: `${second.url}/api/messages`, appSecret: APP_SECRET, appId: APP_ID });
    try {
      await waitFor(async () => {
        if (psids.some((p) => tippingTo(p).length === 0)) return false;
        // Done when nothing of the announcement is left to send (in-doubt sends included).
        return (
          (await OutboxMessageModel.collection.countDocuments({ ...tippedKeys, state: 'pending' })) === 0
        );
      }, 240_000);
    } catch (error) {
      const missing = psids.filter((p) => tippingTo(p).length === 0);
      console.log(
        `      missing ${missing.length}; outbox tipped records ${await OutboxMessageModel.collection.countDocuments(tippedKeys)}, ` +
          `pending ${await OutboxMessageModel.collection.countDocuments({ ...tippedKeys, state: 'pending' })}`,
      );
      throw error;
    }
    const recoveredMs = Date.now() - restartedAt;
    await new Promise((r) => setTimeout(r, 1500));

    const counts = psids.map((p) => tippingTo(p).length);
    const missed = counts.filter((c) => c === 0).length;
    const duplicates = counts.reduce((n, c) => n + Math.max(0, c - 1), 0);
    const states = await OutboxMessageModel.collection
      .aggregate<{ _id: string; n: number }>([
        { $match: tippedKeys },
        { $group: { _id: '$state', n: { $sum: 1 } } },
      ])
      .toArray();
    console.log(
      `      announce crash figures: tipping messages at kill ${sentAtKill} (${killMs} ms after the join), ` +
        `queued at kill ${queuedAtKill}/${PARTICIPANTS}, in flight at kill ${inFlight}, ` +
        `after restart: total tipping messages ${tippingSent().length}, missed ${missed}, duplicates ${duplicates}, ` +
        `recovery ${recoveredMs} ms, outbox ${JSON.stringify(Object.fromEntries(states.map((s) => [s._id, s.n])))}`,
    );
    const doc = (await CampaignModel.findById(campaignId).lean())!;
    expect(doc.state).to.equal('tipped');
    expect(doc.committed).to.equal(PARTICIPANTS);
    expect(missed, 'participants without their tipping message').to.equal(0);
    expect(duplicates, 'repeated sends beyond the in-flight ones').to.be.at.most(inFlight);
    expect(await OutboxMessageModel.collection.countDocuments(tippedKeys)).to.equal(PARTICIPANTS);
    expect(
      await PledgeModel.countDocuments({ campaignId: new Types.ObjectId(campaignId), state: 'active' }),
    ).to.equal(PARTICIPANTS);
    // The fake Graph API echoes every accepted send: a send in doubt is confirmed, not repeated.
    if (process.env.GB_CRASH_STRICT !== '0') expect(duplicates, 'duplicates (echo confirmation)').to.equal(0);
  });
});
