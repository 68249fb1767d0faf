/**
 * kill -9 recovery, end to end, across real processes. The database (embedded server with a data
 * directory) and the fake Graph API live in this test process, so they outlive the bot; the bot runs
 * as a child process (`node --import tsx src/index.ts`) that we SIGKILL at the worst moments.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startBotProcess, type BotProcess } from '../support/child-bot.js';
import { MongoClient, type Db } from 'mongodb';
import { pino } from 'pino';
import { startEmbeddedMongo, type EmbeddedMongo } from '../../src/db/embedded/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { messageEvent, messagingBody, postSignedWebhook } from '../../src/dev/webhook-payloads.js';
import { waitFor } from '../support/app.js';

const PAGE = {
  id: '310000000000001',
  name: 'Crash Test Page',
  accessToken: 'CRASH-TEST-PAGE-ACCESS-TOKEN-00000000001',
};
const APP_SECRET = 'crash-test-app-secret';
const VERIFY_TOKEN = 'crash-test-verify';
/**
 * A killed process's leases must expire before another takes its work over: the shortest allowed
 * values keep that wait to seconds (the echo grace stays at its default, so a send in doubt is
 * still confirmed by its echo rather than repeated).
 */
const SHORT_LEASES = { INBOX_LEASE_SECONDS: '5', OUTBOX_CLAIM_SECONDS: '15', JOB_LEASE_SECONDS: '10' };
/** A new fan's first message gets greet + disclosure + menu (flows/start.ts). */
const BURST = 3;

function startBot(role: 'web' | 'all', mongoUri: string, graphUrl: string): Promise<BotProcess> {
  return startBotProcess(
    {
      ROLE: role,
      MONGODB_URI: mongoUri,
      FACEBOOK_APP_SECRET: APP_SECRET,
      FACEBOOK_VERIFY_TOKEN: VERIFY_TOKEN,
      FACEBOOK_ACCESS_TOKEN: PAGE.accessToken,
      FACEBOOK_PAGE_ID: PAGE.id,
      GRAPH_API_URL: graphUrl,
      GRAPH_API_VERSION: 'v25.0',
      LOG_LEVEL: process.env.CRASH_TEST_LOG_LEVEL ?? 'error',
      ...SHORT_LEASES,
    },
    { readyTimeoutMs: 120_000 },
  );
}

describe('kill -9 recovery (bot as a child process, DB and fake Graph API in the test process)', function () {
  // Leases held by a killed process expire before the next one may take over (inbox 5 s, outbox
  // claim 15 s + echo grace 15 s here).
  this.timeout(120_000);

  let dataDir: string;
  let mongo: EmbeddedMongo;
  let fake: FakeGraph;
  let graphServer: FakeGraphServer;
  let client: MongoClient;
  let db: Db;
  let dbCounter = 0;
  let mongoUri: string;
  const bots: BotProcess[] = [];

  const launch = async (role: 'web' | 'all') => {
    const bot = await startBot(role, mongoUri, graphServer.url);
    bots.push(bot);
    return bot;
  };

  const send = async (bot: BotProcess, psid: string, text: string) => {
    const event = messageEvent({ pageId: PAGE.id, psid, text });
    fake.noteUserInteraction(PAGE.id, psid, new Date(event.timestamp ?? Date.now()));
    return postSignedWebhook(`${bot.url}/api/messages`, messagingBody(PAGE.id, event), APP_SECRET);
  };

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'crash-recovery-'));
    mongo = await startEmbeddedMongo({ dbPath: dataDir, logger: pino({ level: 'silent' }) });
    fake = createFakeGraph({ appSecret: APP_SECRET, pages: [PAGE], version: 'v25.0' });
    graphServer = await fake.listen();
    client = await new MongoClient(mongo.uri).connect();
  });

  beforeEach(() => {
    fake.reset();
    fake.setLatency(0);
    const dbName = `crash_${++dbCounter}`;
    mongoUri = `${mongo.uri}/${dbName}`;
    db = client.db(dbName);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const bot of bots) console.log(`--- bot ${bot.url} output ---\n${bot.output()}`);
    }
    await Promise.all(bots.splice(0).map((b) => b.stop()));
  });

  after(async () => {
    await client?.close();
    await graphServer?.close();
    await mongo?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('an event acknowledged by a web instance killed before processing is processed after restart, once', async () => {
    const psid = '2100000000000001';
    const web = await launch('web');
    const res = await send(web, psid, 'ciao');
    expect(res.status).to.equal(200);
    await web.kill9();
    // The 200 meant "stored": the event is there, untouched, and nothing was sent.
    const stored = await db.collection('inbox').findOne({ queueKey: `fan:${psid}` });
    expect(stored?.state).to.equal('pending');
    expect(fake.messagesTo(psid)).to.have.length(0);

    await launch('all');
    await waitFor(() => fake.messagesTo(psid).length >= BURST, 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    const sent = fake.messagesTo(psid);
    expect(sent).to.have.length(BURST);
    expect(new Set(sent.map((m) => m.metadata)).size).to.equal(BURST);
    const event = await db.collection('inbox').findOne({ queueKey: `fan:${psid}` });
    expect(event?.state).to.equal('done');
    expect(event?.attempts).to.equal(1);
    expect(await db.collection('outbox').countDocuments({ 'recipient.psid': psid, state: 'sent' })).to.equal(
      BURST,
    );
  });

  it('a worker killed mid-way through 50 fans: after restart every fan has its burst, duplicates bounded by in-flight sends', async () => {
    const fans = Array.from({ length: 50 }, (_, i) => `22000000000${String(i).padStart(5, '0')}`);
    // Slow Graph answers keep many turns and sends in flight when the kill comes.
    fake.setLatency(150);
    const first = await launch('all');
    const statuses = await Promise.all(fans.map((psid) => send(first, psid, 'ciao')));
    expect(statuses.every((s) => s.status === 200)).to.equal(true);
    await waitFor(() => fake.messages.length >= 1, 20_000);
    await first.kill9();
    const killedAt = new Date();

    const sentBeforeKill = fake.messages.length;
    const outbox = db.collection('outbox');
    const inbox = db.collection('inbox');
    // Claimed but not recorded: these may have reached Meta, and are the only sends that may repeat.
    const inFlight = await outbox.countDocuments({ state: 'pending', leaseUntil: { $gt: killedAt } });
    const recordedSent = await outbox.countDocuments({ state: 'sent' });
    const inboxDone = await inbox.countDocuments({ state: 'done' });
    const inboxPending = await inbox.countDocuments({ state: 'pending' });

    const restartedAt = Date.now();
    await launch('all');
    try {
      await waitFor(() => fans.every((psid) => fake.messagesTo(psid).length >= BURST), 90_000);
    } catch (error) {
      // Say which fans are short and what the database knows about them.
      for (const psid of fans.filter((p) => fake.messagesTo(p).length < BURST)) {
        const events = await inbox.find({ queueKey: `fan:${psid}` }).toArray();
        const sends = await outbox.find({ 'recipient.psid': psid }).toArray();
        console.log(
          `      ${psid}: ${fake.messagesTo(psid).length} sent; inbox ${JSON.stringify(
            events.map((e) => [e.state, e.attempts]),
          )}; outbox ${JSON.stringify(sends.map((o) => [o.idempotencyKey, o.state]))}`,
        );
      }
      throw error;
    }
    const recoveredMs = Date.now() - restartedAt;
    await new Promise((r) => setTimeout(r, 2000));

    const byMetadata = new Map<string, number>();
    for (const m of fake.messages)
      byMetadata.set(m.metadata ?? '', (byMetadata.get(m.metadata ?? '') ?? 0) + 1);
    const duplicates = [...byMetadata.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    const shortFans = fans.filter((psid) => fake.messagesTo(psid).length < BURST);
    const extraFans = fans.filter(
      (psid) => new Set(fake.messagesTo(psid).map((m) => m.metadata)).size > BURST,
    );

    console.log(
      `      crash figures: sent before kill ${sentBeforeKill} (recorded ${recordedSent}), in flight at kill ${inFlight}, ` +
        `inbox done/pending at kill ${inboxDone}/${inboxPending}, ` +
        `total Send API messages ${fake.messages.length} for ${fans.length * BURST} expected, duplicates ${duplicates}, ` +
        `recovery ${recoveredMs} ms`,
    );

    expect(shortFans, 'fans without their full burst').to.deep.equal([]);
    expect(extraFans, 'fans who got more distinct messages than the burst').to.deep.equal([]);
    expect(duplicates, 'repeated sends beyond the in-flight ones').to.be.at.most(inFlight);
    expect(await inbox.countDocuments({ state: { $ne: 'done' } })).to.equal(0);
    expect(await outbox.countDocuments({ state: { $ne: 'sent' } })).to.equal(0);
    // Each fan's burst is in order: greeting text, disclosure template, menu with quick replies.
    for (const psid of fans) {
      const distinct = [...new Map(fake.messagesTo(psid).map((m) => [m.metadata, m])).values()];
      expect(typeof distinct[0]!.message.text, `greeting to ${psid}`).to.equal('string');
      expect(distinct[1]!.message.attachment, `disclosure to ${psid}`).to.be.an('object');
      expect(distinct[2]!.message.quick_replies, `menu to ${psid}`).to.be.an('array');
    }
  });
});
