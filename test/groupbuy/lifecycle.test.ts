/**
 * Group-buy jobs with an injected clock against the embedded database: deadlines (fail / close),
 * reminders per offset (inside the 24 h window only), the tipping safety net, and the tier change
 * after tipping. The outbox sender runs here too, on the same clock, against a fake Graph API, so the
 * tests see what Meta would receive (tags, refusals) and not only what was queued. The clock is ahead
 * of the wall clock: the outbox's retention TTL (set from the sender's clock) must not expire records
 * mid-test.
 */
import { expect } from 'chai';
import { Types } from 'mongoose';
import { upsertProduct } from '../../src/app/catalog.js';
import {
  announceTipping,
  createCampaign,
  joinCampaign,
  openCampaign,
  type CampaignInput,
  type GroupBuyContext,
} from '../../src/app/groupbuy.js';
import {
  applyTierChange,
  closeDueCampaigns,
  refundsDue,
  sendDeadlineReminders,
  tipSafetyNet,
} from '../../src/app/groupbuy-lifecycle.js';
import { loadConfig } from '../../src/config/index.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OrderModel } from '../../src/db/models/order.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { groupBuyJobs } from '../../src/jobs/groupbuy.js';
import type { JobContext } from '../../src/jobs/types.js';
import { silentLogger } from '../../src/log.js';
import { GraphClient } from '../../src/messenger/graph/client.js';
import { OutboxSender } from '../../src/messenger/outbox/sender.js';
import { waitFor } from '../support/app.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

const MIN = 60_000;
const H = 60 * MIN;
const config = loadConfig({});
const page = config.facebook.page;
const pageId = page.id;
let clock = new Date('2027-06-01T10:00:00Z');
const ctx = (): GroupBuyContext => ({ pageId, now: clock, config });

let n = 0;
let fanSeq = 0;
const newPsid = () => `77${String(++fanSeq).padStart(10, '0')}`;

function input(over: Partial<CampaignInput> = {}): CampaignInput {
  return {
    slug: `LC${++n}`,
    productSku: 'LP1',
    variantSku: null,
    minQuantity: 5,
    maxQuantity: null,
    deadline: new Date(clock.getTime() + 48 * H),
    tiers: [
      { fromQuantity: 0, unitPrice: 5000 },
      { fromQuantity: 3, unitPrice: 4000 },
      { fromQuantity: 5, unitPrice: 3000 },
    ],
    perFanLimit: 3,
    texts: {
      it: { title: 'Jeans di gruppo', description: '' },
      en: { title: 'Group jeans', description: '' },
    },
    ...over,
  };
}

async function openNew(over: Partial<CampaignInput> = {}) {
  const created = await createCampaign(ctx(), input(over));
  if (!created.ok) throw new Error(`create failed: ${JSON.stringify(created)}`);
  const opened = await openCampaign(ctx(), created.campaign.id);
  if (!opened.ok) throw new Error(`open failed: ${JSON.stringify(opened)}`);
  return opened.campaign;
}

/** Fans known to the bot; `lastAt` is their last window-opening interaction. */
async function addFan(lastAt: Date, locale: 'it' | 'en' = 'it'): Promise<string> {
  const psid = newPsid();
  await FanModel.collection.insertOne({
    pageId,
    psid,
    locale,
    firstInteractionAt: lastAt,
    lastInteractionAt: lastAt,
    profileFetchedAt: lastAt,
    tags: [],
    interests: [],
    reachable: true,
    marketingOptOut: false,
    optIns: [],
  } as never);
  fake.noteUserInteraction(pageId, psid, lastAt);
  return psid;
}

async function touch(psid: string, at: Date) {
  await FanModel.updateOne({ pageId, psid }, { $set: { lastInteractionAt: at } });
  fake.noteUserInteraction(pageId, psid, at);
}

const join = (campaignId: string, psid: string, quantity = 1, announce = true) =>
  joinCampaign(
    ctx(),
    { campaignId, psid, quantity, variantSku: 'LP1-S', source: { type: 'menu' } },
    { announce },
  );

let fake: FakeGraph;

const keys = (campaignId: string, suffix: string) =>
  OutboxMessageModel.find({ idempotencyKey: new RegExp(`^gb:${campaignId}:\\d+:${suffix}$`) }).lean();

describe('group buys: lifecycle jobs with an injected clock (embedded MongoDB, outbox sender, fake Graph API)', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;
  let server: FakeGraphServer;
  let graph: GraphClient;
  let sender: OutboxSender;

  /** Lets the sender deliver everything due at the current clock. */
  async function drain() {
    sender.wake();
    await waitFor(
      async () =>
        (await OutboxMessageModel.countDocuments({ state: 'pending', nextAttemptAt: { $lte: clock } })) === 0,
      20_000,
    );
  }

  const texts = (psid: string, needle: string) =>
    fake.messagesTo(psid).filter((m) => JSON.stringify(m.message).includes(needle));

  before(async () => {
    db = await connectShopDb();
    await upsertProduct({ pageId }, sampleProduct('LP1'));
    fake = createFakeGraph({
      appSecret: config.facebook.appSecret,
      pages: [page],
      version: config.graph.version,
      clock: () => clock,
    });
    server = await fake.listen();
    graph = new GraphClient({
      baseUrl: server.url,
      version: config.graph.version,
      appSecret: config.facebook.appSecret,
      log: silentLogger,
    });
    sender = new OutboxSender({
      graph,
      page,
      log: silentLogger,
      now: () => clock,
      ratePerSecond: 250,
      maxAttempts: 3,
      pollMs: 20,
    });
    sender.start();
  });

  after(async () => {
    await sender?.stop();
    graph?.close();
    await server?.close();
    await db?.stop();
  });

  it('an untipped campaign fails at its deadline: pledges released, each participant told once (tagged outside the window); a second run sends nothing', async () => {
    clock = new Date('2027-06-01T10:00:00Z');
    const c = await openNew({ minQuantity: 5, deadline: new Date(clock.getTime() + 30 * H) });
    const inside = await addFan(clock);
    const outside = await addFan(clock);
    const waiting = await addFan(clock);
    await join(c.id, inside, 2);
    await join(c.id, outside, 1);
    await join(c.id, waiting, 1);

    clock = new Date(c.deadline.getTime() - MIN);
    expect((await closeDueCampaigns(ctx())).failed).to.equal(0);
    expect((await CampaignModel.findById(c.id).lean())!.state).to.equal('open');

    clock = new Date(c.deadline.getTime() + 2 * MIN);
    await touch(inside, new Date(clock.getTime() - H));
    const first = await closeDueCampaigns(ctx());
    expect(first).to.deep.include({ failed: 1, closed: 0, released: 3, notified: 3 });
    const doc = (await CampaignModel.findById(c.id).lean())!;
    expect(doc.state).to.equal('failed');
    expect(doc.closedAt?.getTime()).to.equal(clock.getTime());
    const pledges = await PledgeModel.find({ campaignId: new Types.ObjectId(c.id) }).lean();
    expect(pledges.map((p) => p.state)).to.deep.equal(['released', 'released', 'released']);
    expect(await keys(c.id, 'failed')).to.have.length(3);

    // The job, run twice (a doubled tick): nothing new.
    const deadlines = groupBuyJobs().find((j) => j.id === 'groupbuy-deadlines')!;
    const jobCtx = (): JobContext => ({
      now: clock,
      log: silentLogger,
      config,
      graph,
      page,
      signal: new AbortController().signal,
    });
    for (let i = 0; i < 2; i++) {
      const r = await deadlines.run(jobCtx());
      expect(r.summary).to.deep.include({ failed: 0, closed: 0, released: 0, notified: 0 });
    }
    expect(await keys(c.id, 'failed')).to.have.length(3);

    await drain();
    for (const psid of [inside, outside, waiting])
      expect(texts(psid, 'non ha raggiunto il minimo'), psid).to.have.length(1);
    expect(texts(inside, 'non ha raggiunto')[0]!.messagingType).to.equal('UPDATE');
    const tagged = texts(outside, 'non ha raggiunto')[0]!;
    expect(tagged.messagingType).to.equal('MESSAGE_TAG');
    expect(tagged.tag).to.equal('POST_PURCHASE_UPDATE');
    // Joining a failed campaign is refused.
    expect((await join(c.id, await addFan(clock))).code).to.equal('closed');
  });

  it('a tipped campaign closes at its deadline: active pledges stay, the waitlist is released and told once; no more pledges', async () => {
    clock = new Date('2027-06-05T10:00:00Z');
    const c = await openNew({
      minQuantity: 2,
      maxQuantity: 2,
      perFanLimit: 1,
      tiers: [{ fromQuantity: 0, unitPrice: 2500 }],
      deadline: new Date(clock.getTime() + 10 * H),
    });
    const [a, b, w] = [await addFan(clock), await addFan(clock), await addFan(clock)];
    await join(c.id, a);
    await join(c.id, b);
    expect((await join(c.id, w)).code).to.equal('waitlisted');
    expect((await CampaignModel.findById(c.id).lean())!.state).to.equal('tipped');

    clock = new Date(c.deadline.getTime());
    const r = await closeDueCampaigns(ctx());
    expect(r).to.deep.include({ closed: 1, failed: 0, released: 1, notified: 1 });
    const doc = (await CampaignModel.findById(c.id).lean())!;
    expect(doc.state).to.equal('closed');
    expect(doc.waitlistCount).to.equal(0);
    const byPsid = new Map(
      (await PledgeModel.find({ campaignId: new Types.ObjectId(c.id) }).lean()).map((p) => [p.psid, p.state]),
    );
    expect(Object.fromEntries(byPsid)).to.deep.equal({ [a]: 'active', [b]: 'active', [w]: 'released' });
    expect((await closeDueCampaigns(ctx())).notified).to.equal(0);
    expect(await keys(c.id, 'closed')).to.have.length(1);
    expect((await join(c.id, await addFan(clock))).code).to.equal('closed');

    await drain();
    expect(texts(w, 'si è chiuso')).to.have.length(1);
    expect(texts(a, 'si è chiuso')).to.have.length(0);
    expect(texts(a, 'si fa')).to.have.length(1); // the tipping message, once
  });

  it('reminders reach only participants inside their window (others: refused outside_window), once per offset; a missed offset is not sent late', async () => {
    clock = new Date('2027-06-10T10:00:00Z');
    const c = await openNew({ minQuantity: 10, deadline: new Date(clock.getTime() + 30 * H) });
    const inside = await addFan(clock, 'en');
    const outside = await addFan(new Date(clock.getTime() - 3 * 24 * H));
    await join(c.id, inside, 2);
    await join(c.id, outside, 1);

    clock = new Date(c.deadline.getTime() - 25 * H);
    expect((await sendDeadlineReminders(ctx())).queued).to.equal(0);

    clock = new Date(c.deadline.getTime() - 23 * H);
    await touch(inside, new Date(clock.getTime() - H));
    expect((await sendDeadlineReminders(ctx())).queued).to.equal(2);
    expect((await sendDeadlineReminders(ctx())).queued).to.equal(0);
    await drain();
    expect(texts(inside, '7 more needed')).to.have.length(1);
    expect(fake.messagesTo(outside)).to.have.length(0);
    const refused = await OutboxMessageModel.findOne({
      idempotencyKey: `gb:${c.id}:${outside}:reminder:24h`,
    }).lean();
    expect(refused).to.deep.include({
      state: 'refused',
      refusedReason: 'outside_window',
      purpose: 'reminder',
    });

    clock = new Date(c.deadline.getTime() - 2 * H);
    await touch(inside, new Date(clock.getTime() - 5 * MIN));
    expect((await sendDeadlineReminders(ctx())).queued).to.equal(2);
    expect((await sendDeadlineReminders(ctx())).queued).to.equal(0);
    await drain();
    expect(texts(inside, 'more needed')).to.have.length(2);
    expect(texts(inside, 'ends in 2 hours')).to.have.length(1);
    expect(fake.messagesTo(outside)).to.have.length(0);
    expect((await keys(c.id, 'reminder:3h')).map((r) => r.state).sort()).to.deep.equal(['refused', 'sent']);

    // A campaign first seen 2 h before its deadline gets the 3 h reminder only.
    clock = new Date('2027-06-12T10:00:00Z');
    const late = await openNew({ minQuantity: 10, deadline: new Date(clock.getTime() + 30 * H) });
    await join(late.id, inside, 1);
    clock = new Date(late.deadline.getTime() - 2 * H);
    await sendDeadlineReminders(ctx());
    expect(await keys(late.id, 'reminder:24h')).to.have.length(0);
    expect(await keys(late.id, 'reminder:3h')).to.have.length(1);
    // A campaign's own offsets win over the defaults.
    await CampaignModel.collection.updateOne(
      { _id: new Types.ObjectId(late.id) },
      { $set: { reminderOffsetsMinutes: [150] } },
    );
    await sendDeadlineReminders(ctx());
    expect(await keys(late.id, 'reminder:150m')).to.have.length(1);
    await drain();
  });

  it('the safety net tips an open campaign at its minimum and resumes a tipping announcement that never went out; running it again sends nothing', async () => {
    clock = new Date('2027-06-15T10:00:00Z');
    const c1 = await openNew({ minQuantity: 3 });
    const c2 = await openNew({ minQuantity: 3 });
    const fans1 = [await addFan(clock), await addFan(clock), await addFan(clock)];
    const fans2 = [await addFan(clock), await addFan(clock), await addFan(clock)];
    // The joins reach the minimum but the announcement (and, for c1, the transition) never happens.
    for (const psid of fans1) await join(c1.id, psid, 1, false);
    for (const psid of fans2) await join(c2.id, psid, 1, false);
    await CampaignModel.updateOne(
      { _id: new Types.ObjectId(c1.id) },
      { $set: { state: 'open', tippedAt: null, tippedQuantity: null } },
    );
    expect(await keys(c1.id, 'tipped')).to.have.length(0);
    expect(await keys(c2.id, 'tipped')).to.have.length(0);

    const r = await tipSafetyNet(ctx());
    expect(r).to.deep.include({ tipped: 1, reannounced: 1, announced: 6 });
    const doc1 = (await CampaignModel.findById(c1.id).lean())!;
    expect(doc1.state).to.equal('tipped');
    expect(doc1.tippedQuantity).to.equal(3);
    expect(await keys(c1.id, 'tipped')).to.have.length(3);
    expect(await keys(c2.id, 'tipped')).to.have.length(3);

    const again = await tipSafetyNet(ctx());
    expect(again).to.deep.include({ tipped: 0, reannounced: 0, announced: 0 });
    await drain();
    for (const psid of [...fans1, ...fans2]) expect(texts(psid, 'si fa'), psid).to.have.length(1);
  });

  it('tier change after tipping: unpaid orders repriced, paid ones listed as refunds due, each participant told once', async () => {
    clock = new Date('2027-06-20T10:00:00Z');
    const c = await openNew({ minQuantity: 3 });
    const early = [await addFan(clock), await addFan(clock), await addFan(clock)];
    for (const psid of early) await join(c.id, psid);
    expect((await CampaignModel.findById(c.id).lean())!.state).to.equal('tipped');
    const orderOf = (psid: string) =>
      OrderModel.findOne({ pageId, idempotencyKey: `gb:${c.id}:${psid}:order` }).lean();
    expect((await orderOf(early[0]!))!.totals!.total).to.equal(4000);
    // One participant has paid already.
    await OrderModel.updateOne({ _id: (await orderOf(early[0]!))!._id }, { $set: { state: 'paid' } });

    const fourth = await addFan(clock);
    await join(c.id, fourth); // committed 4: still the 40.00 tier
    expect(await keys(c.id, 'tier:5')).to.have.length(0);
    const fifth = await addFan(clock);
    await join(c.id, fifth); // committed 5: the 30.00 tier, through afterJoin

    expect(await keys(c.id, 'tier:5')).to.have.length(4);
    for (const psid of [early[1]!, early[2]!, fourth]) {
      const o = (await orderOf(psid))!;
      expect(o.totals!.total, psid).to.equal(3000);
      expect(o.lines[0]!.unitPrice).to.equal(3000);
    }
    expect((await orderOf(early[0]!))!.totals!.total).to.equal(4000);
    expect((await orderOf(fifth))!.totals!.total).to.equal(3000);
    const pledges = await PledgeModel.find({ campaignId: new Types.ObjectId(c.id) }).lean();
    expect(pledges.every((p) => p.priceAtTipping === 3000)).to.equal(true);
    const refunds = await refundsDue(ctx(), c.id);
    expect(refunds).to.have.length(1);
    expect(refunds[0]).to.deep.include({ psid: early[0], paid: 4000, due: 3000, refund: 1000 });

    // Again, by hand and by the safety net: nothing new.
    expect(await applyTierChange(ctx(), c.id)).to.deep.include({ notified: 0, repriced: 0 });
    expect((await tipSafetyNet(ctx())).repriced).to.equal(0);
    expect(await keys(c.id, 'tier:5')).to.have.length(4);
    expect((await announceTipping(ctx(), c.id)).created).to.equal(0);

    await drain();
    for (const psid of [early[1]!, early[2]!, fourth])
      expect(texts(psid, 'Il tuo ordine è aggiornato'), psid).to.have.length(1);
    expect(texts(early[0]!, 'ti rimborseremo')).to.have.length(1);
    expect(texts(fifth, 'scende a')).to.have.length(0);
  });
});
