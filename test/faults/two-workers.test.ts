/**
 * Two worker processes and a web process against one database and the fake Graph API. Cron jobs
 * (tipping safety net, deadline reminders, failing campaigns at their deadline, a scheduled broadcast)
 * and fans' messages run while both workers compete for them; then the worker holding the Page's
 * sender lease is killed mid-broadcast and the other takes over. Every job tick runs once, every
 * message reaches Meta once (Send API calls counted per outbox record), and both workers did work.
 *
 *   npx mocha test/faults/two-workers.test.ts        (FAULTS_LOG_LEVEL=info for the bots' logs)
 */
import { expect } from 'chai';
import { Types } from 'mongoose';
import { broadcastStats, createBroadcast } from '../../src/app/broadcasts.js';
import { upsertProduct } from '../../src/app/catalog.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { JobRunModel } from '../../src/db/models/job-run.js';
import { LeaseModel } from '../../src/db/models/lease.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { messageEvent, messagingBody } from '../../src/dev/webhook-payloads.js';
import { waitFor } from '../support/app.js';
import { sampleProduct } from '../shop/helpers.js';
import { holderPid, startProcessRig, type ProcessRig } from './process-fixture.js';

const PAGE_ID = '350000000000001';
const HOUR = 3_600_000;
/** The Page's sender is slowed so the broadcast is still going when its sender is killed. */
const RATE = '25';

const psid = (i: number) => `25000000${String(i).padStart(6, '0')}`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => psid(from + i));

/** Fans by role (all inside their 24 h window except FAIL1's, who are told by a tagged update). */
const TIP1 = range(0, 30);
const REM = range(30, 50);
const FAIL1 = range(50, 70);
const TIP2 = range(70, 90);
const FAIL2 = range(90, 100);
const VIP = range(100, 220);
const WAVE1 = range(300, 330);
const WAVE2 = range(330, 345);
const BURST = 3;

interface Seeded {
  tip1: string;
  rem: string;
  fail1: string;
  tip2: string;
  fail2: string;
}

async function seed(rig: ProcessRig): Promise<Seeded> {
  const now = Date.now();
  const inside = new Date(now - HOUR);
  const outside = new Date(now - 48 * HOUR);
  const pageId = rig.page.id;
  await upsertProduct({ pageId }, sampleProduct('TWP'));
  const fans = [...TIP1, ...REM, ...FAIL1, ...TIP2, ...FAIL2, ...VIP].map((p) => {
    const at = FAIL1.includes(p) ? outside : inside;
    rig.fake.noteUserInteraction(pageId, p, at);
    return {
      pageId,
      psid: p,
      locale: 'it',
      firstInteractionAt: at,
      lastInteractionAt: at,
      profileFetchedAt: at,
      tags: VIP.includes(p) ? ['vip'] : [],
      interests: [],
      reachable: true,
      marketingOptOut: false,
      optIns: [],
    };
  });
  await FanModel.collection.insertMany(fans);

  const campaign = async (
    slug: string,
    o: { min: number; pledged: readonly string[]; committed?: number; deadline: Date },
  ) => {
    const doc = await CampaignModel.create({
      pageId,
      slug,
      productSku: 'TWP',
      variantSku: 'TWP-S',
      minQuantity: o.min,
      maxQuantity: null,
      deadline: o.deadline,
      tiers: [{ fromQuantity: 0, unitPrice: 2990 }],
      currency: 'EUR',
      perFanLimit: 1,
      texts: {
        it: { title: `Jeans ${slug}`, description: '' },
        en: { title: `Jeans ${slug}`, description: '' },
      },
      state: 'open',
      openedAt: inside,
      committed: o.committed ?? o.pledged.length,
      pledgeCount: o.committed ?? o.pledged.length,
    });
    await PledgeModel.collection.insertMany(
      o.pledged.map((p) => ({
        pageId,
        campaignId: doc._id,
        psid: p,
        quantity: 1,
        variantSku: 'TWP-S',
        state: 'active',
        waitlistPosition: null,
        source: { type: 'menu' },
        priceAtTipping: null,
        orderId: null,
        movedToCampaignId: null,
        createdAt: inside,
        joinedAt: inside,
        leftAt: null,
      })),
    );
    return String(doc._id);
  };
  const days3 = new Date(now + 3 * 24 * HOUR);
  return {
    // At its minimum but not tipped (its join "crashed"): the safety net tips and announces it.
    tip1: await campaign('TWTIP1', { min: 30, pledged: TIP1, deadline: days3 }),
    // Two hours before its deadline, short of its minimum: the 3 h reminder is due.
    rem: await campaign('TWREM', { min: 100, pledged: REM, deadline: new Date(now + 2 * HOUR) }),
    // Its deadline passes while both workers run: it fails and its participants are told.
    fail1: await campaign('TWFAIL1', { min: 100, pledged: FAIL1, deadline: new Date(now + 20_000) }),
    // Set in motion after the handover, for the surviving worker's ticks.
    tip2: await campaign('TWTIP2', { min: 20, pledged: TIP2.slice(0, -1), deadline: days3 }),
    fail2: await campaign('TWFAIL2', { min: 100, pledged: FAIL2, deadline: days3 }),
  };
}

describe('faults: two workers and a web process share one database', function () {
  this.timeout(360_000);
  let rig: ProcessRig;

  before(async () => {
    rig = await startProcessRig('twoworkers', { pageId: PAGE_ID, graphLatencyMs: 40 });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') rig.dumpOutput();
  });

  after(async () => {
    await rig?.close();
  });

  it('every job tick and every message happens once; both workers work; the survivor takes over the leases', async () => {
    const testStarted = new Date();
    const ids = await seed(rig);
    const pageId = rig.page.id;
    await rig.startWeb();
    const sampler = rig.sampleLeases(['inbox:', 'outbox-sender:', 'job:']);
    // Started together, so both race for the start-up catch-ups and for every tick after.
    const [a, b] = await Promise.all([
      rig.startWorker({ SEND_RATE_PER_SECOND: RATE }),
      rig.startWorker({ SEND_RATE_PER_SECOND: RATE }),
    ]);
    const pidName = new Map([
      [a.child.pid!, 'A'],
      [b.child.pid!, 'B'],
    ]);
    const who = (holder: string) => pidName.get(holderPid(holder)) ?? `?${holder}`;

    const say = async (p: string, text: string) => {
      const event = messageEvent({ pageId, psid: p, text });
      rig.fake.noteUserInteraction(pageId, p, new Date(event.timestamp ?? Date.now()));
      expect(await rig.post(messagingBody(pageId, event))).to.equal(200);
    };
    const outboxKeys = async (regex: string, state = 'sent') =>
      OutboxMessageModel.collection.countDocuments({ idempotencyKey: { $regex: regex }, state });

    // Phase 1: both workers run; fans write while the catch-ups tip, remind and (soon) fail campaigns.
    await Promise.all(WAVE1.map((p) => say(p, 'ciao')));
    await waitFor(async () => {
      const fansDone = WAVE1.every((p) => rig.fake.messagesTo(p).length >= BURST);
      return (
        fansDone &&
        (await outboxKeys(`^gb:${ids.tip1}:.*:tipped$`)) === TIP1.length &&
        (await outboxKeys(`^gb:${ids.rem}:.*:reminder:`)) === REM.length &&
        (await outboxKeys(`^gb:${ids.fail1}:.*:failed$`)) === FAIL1.length
      );
    }, 150_000);
    const phase1 = sampler.stop();
    const inboxWorkers = new Set([...phase1.get('inbox:')!].map(who));
    const runsBefore = await JobRunModel.collection.find({}).toArray();
    const jobWorkersBefore = new Set(runsBefore.map((r) => who(String(r.holder))));

    // Phase 2: a broadcast to 120 fans; the worker holding the Page's sender lease dies mid-way.
    const bc = await createBroadcast(
      { pageId, now: new Date() },
      {
        name: 'two workers',
        purpose: 'promotion',
        contents: [{ locale: 'it', text: 'Solo per i VIP' }],
        segment: { definition: { rules: [{ type: 'tags', any: ['vip'] }] } },
        scheduledAt: new Date(Date.now() + 2000),
      },
    );
    if (!bc.ok) throw new Error(JSON.stringify(bc));
    const bcId = bc.broadcast.id;
    const bcSent = () => rig.fake.messages.filter((m) => m.psid && VIP.includes(m.psid)).length;
    await waitFor(() => bcSent() >= 30, 60_000);
    const senderLease = await LeaseModel.collection.findOne({ _id: `outbox-sender:${pageId}` as never });
    const holderBefore = who(String(senderLease?.holder));
    const [victim, survivor] = holderBefore === 'A' ? [a, b] : [b, a];
    await victim.kill9();
    const killedAt = new Date();
    const bcAtKill = bcSent();
    const inFlight = await OutboxMessageModel.collection.countDocuments({
      state: 'pending',
      leaseUntil: { $gt: killedAt },
    });

    // Phase 3: only the survivor is left; new work for its queues and its ticks.
    const handover = rig.sampleLeases(['outbox-sender:', 'job:', 'inbox:']);
    await Promise.all(WAVE2.map((p) => say(p, 'ciao')));
    await PledgeModel.collection.insertOne({
      pageId,
      campaignId: new Types.ObjectId(ids.tip2),
      psid: TIP2.at(-1)!,
      quantity: 1,
      variantSku: 'TWP-S',
      state: 'active',
      waitlistPosition: null,
      source: { type: 'menu' },
      priceAtTipping: null,
      orderId: null,
      movedToCampaignId: null,
      createdAt: new Date(),
      joinedAt: new Date(),
      leftAt: null,
    });
    await CampaignModel.collection.updateOne(
      { _id: new Types.ObjectId(ids.tip2) },
      { $set: { committed: TIP2.length, pledgeCount: TIP2.length } },
    );
    await CampaignModel.collection.updateOne(
      { _id: new Types.ObjectId(ids.fail2) },
      { $set: { deadline: new Date() } },
    );
    const takeoverStarted = Date.now();
    await waitFor(async () => {
      const s = await broadcastStats({ pageId, now: new Date() }, bcId);
      return (
        s?.state === 'completed' &&
        WAVE2.every((p) => rig.fake.messagesTo(p).length >= BURST) &&
        (await outboxKeys(`^gb:${ids.tip2}:.*:tipped$`)) === TIP2.length &&
        (await outboxKeys(`^gb:${ids.fail2}:.*:failed$`)) === FAIL2.length &&
        (await OutboxMessageModel.collection.countDocuments({ state: 'pending' })) === 0 &&
        (await InboxEventModel.collection.countDocuments({ state: 'pending' })) === 0
      );
    }, 150_000);
    const takeoverMs = Date.now() - takeoverStarted;
    // Late echoes and stray retries would show up here, not before.
    await new Promise((r) => setTimeout(r, 2000));
    const phase3 = handover.stop();

    // Every Send API call belongs to one outbox record, and every record sent reached Meta once.
    const records = await OutboxMessageModel.collection
      .find({}, { projection: { idempotencyKey: 1, state: 1, kind: 1, refusedReason: 1 } })
      .toArray();
    const byId = new Map(records.map((r) => [`ob:${String(r._id)}`, r]));
    const calls = new Map<string, number>();
    for (const m of rig.fake.messages) calls.set(m.metadata ?? '', (calls.get(m.metadata ?? '') ?? 0) + 1);
    const orphans = [...calls.keys()].filter((k) => !byId.has(k));
    const duplicates = [...calls.entries()].filter(([, n]) => n > 1);
    const sentRecords = records.filter(
      (r) => r.state === 'sent' && ['message', 'private_reply'].includes(String(r.kind)),
    );
    const unsentCalls = sentRecords.filter((r) => !calls.has(`ob:${String(r._id)}`));
    const states = records.reduce<Record<string, number>>((acc, r) => {
      const k = r.state === 'refused' ? `refused:${String(r.refusedReason)}` : String(r.state);
      acc[k] = (acc[k] ?? 0) + 1;
      return acc;
    }, {});

    // Job runs: one per job and tick slot, never two of one job at once, by both workers.
    const runs = await JobRunModel.collection
      .find({ startedAt: { $gte: testStarted } }, { sort: { startedAt: 1 } })
      .toArray();
    const overlaps: string[] = [];
    const lastEnd = new Map<string, { end: number; holder: string }>();
    for (const r of runs) {
      const prev = lastEnd.get(String(r.jobId));
      const start = (r.startedAt as Date).getTime();
      if (prev && start < prev.end && r.outcome !== 'abandoned')
        overlaps.push(`${String(r.jobId)} by ${who(String(r.holder))} while ${prev.holder}'s run went on`);
      const end = ((r.finishedAt as Date | undefined) ?? new Date()).getTime();
      lastEnd.set(String(r.jobId), { end, holder: who(String(r.holder)) });
    }
    const slots = runs.map((r) => `${String(r.jobId)}@${String(r.slot)}`);
    const runsBy = (name: string, after?: Date) =>
      runs.filter((r) => who(String(r.holder)) === name && (!after || (r.startedAt as Date) > after)).length;
    const victimName = pidName.get(victim.child.pid!)!;
    const survivorName = pidName.get(survivor.child.pid!)!;
    const stats = (await broadcastStats({ pageId, now: new Date() }, bcId))!;
    const senderAfter = await LeaseModel.collection.findOne({ _id: `outbox-sender:${pageId}` as never });

    console.log(
      `      two-workers figures: Send API messages ${rig.fake.messages.length}, outbox ${JSON.stringify(states)}, ` +
        `duplicates ${duplicates.length}, orphans ${orphans.length}; job runs ${runs.length} ` +
        `(A ${runsBy('A')}, B ${runsBy('B')}; after the kill ${victimName} ${runsBy(victimName, killedAt)}, ` +
        `${survivorName} ${runsBy(survivorName, killedAt)}); inbox queues leased by ${[...inboxWorkers].join('+')}; ` +
        `sender lease ${holderBefore} → ${who(String(senderAfter?.holder ?? ''))} ` +
        `(holders seen after the kill: ${[...phase3.get('outbox-sender:')!].map(who).join(', ')}); ` +
        `broadcast sent at kill ${bcAtKill}/${VIP.length}, in flight ${inFlight}; takeover to quiet ${takeoverMs} ms`,
    );

    expect(duplicates, 'Send API calls repeated for one outbox record').to.deep.equal([]);
    expect(orphans, 'Send API calls without an outbox record').to.deep.equal([]);
    expect(
      unsentCalls.map((r) => r.idempotencyKey),
      'records marked sent that Meta never got',
    ).to.deep.equal([]);
    expect(records.filter((r) => !['sent', 'refused'].includes(String(r.state)))).to.deep.equal([]);
    expect(new Set(slots).size, 'one run per job and tick slot').to.equal(slots.length);
    expect(overlaps, 'two runs of one job at once').to.deep.equal([]);

    for (const p of [...WAVE1, ...WAVE2]) {
      expect(new Set(rig.fake.messagesTo(p).map((m) => m.metadata)).size, `burst of ${p}`).to.equal(BURST);
    }
    expect(await outboxKeys(`^gb:${ids.tip1}:.*:tipped$`)).to.equal(TIP1.length);
    expect(await outboxKeys(`^gb:${ids.rem}:.*:reminder:`)).to.equal(REM.length);
    expect(await outboxKeys(`^gb:${ids.fail1}:.*:failed$`)).to.equal(FAIL1.length);
    expect(await outboxKeys(`^gb:${ids.tip2}:.*:tipped$`)).to.equal(TIP2.length);
    expect(await outboxKeys(`^gb:${ids.fail2}:.*:failed$`)).to.equal(FAIL2.length);
    for (const p of VIP) expect(rig.fake.messagesTo(p), `promotion to ${p}`).to.have.length(1);
    expect(stats.state).to.equal('completed');
    expect(stats.counters.queued).to.equal(VIP.length);
    expect(stats.counters.sent).to.equal(VIP.length);
    const campaignStates = await CampaignModel.collection
      .find({}, { projection: { slug: 1, state: 1 } })
      .toArray();
    expect(Object.fromEntries(campaignStates.map((c) => [c.slug, c.state]))).to.deep.equal({
      TWTIP1: 'tipped',
      TWREM: 'open',
      TWFAIL1: 'failed',
      TWTIP2: 'tipped',
      TWFAIL2: 'failed',
    });

    // Both workers did work before the kill (queues or job runs), and the survivor took everything over.
    expect([...new Set([...inboxWorkers, ...jobWorkersBefore])].sort()).to.deep.equal(['A', 'B']);
    expect(who(String(senderAfter?.holder ?? ''))).to.equal(survivorName);
    expect(runsBy(survivorName, killedAt), 'ticks run by the survivor').to.be.greaterThan(0);
    expect(runsBy(victimName, killedAt)).to.equal(0);
  });
});
