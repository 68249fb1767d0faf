import { expect } from 'chai';
import { Types } from 'mongoose';
import { upsertProduct } from '../../src/app/catalog.js';
import {
  announceTipping,
  cancelCampaign,
  createCampaign,
  inspectCampaign,
  joinCampaign,
  leaveCampaign,
  myGroupBuys,
  openCampaign,
  reconcileCampaignCounts,
  updateCampaign,
  type CampaignInput,
  type GroupBuyContext,
} from '../../src/app/groupbuy.js';
import { loadConfig } from '../../src/config/index.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { OrderModel } from '../../src/db/models/order.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PledgeModel, type PledgeState } from '../../src/db/models/pledge.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

const H = 60 * 60 * 1000;
const config = loadConfig({});
const pageId = config.facebook.page.id;
let clock = new Date('2026-05-01T10:00:00Z');
const ctx = (): GroupBuyContext => ({ pageId, now: clock, config });

let n = 0;
function input(over: Partial<CampaignInput> = {}): CampaignInput {
  return {
    slug: `GB${++n}`,
    productSku: 'P1',
    variantSku: null,
    minQuantity: 5,
    maxQuantity: null,
    deadline: new Date(clock.getTime() + 48 * H),
    tiers: [
      { fromQuantity: 0, unitPrice: 4990 },
      { fromQuantity: 5, unitPrice: 3990 },
      { fromQuantity: 8, unitPrice: 3490 },
    ],
    perFanLimit: 3,
    texts: {
      it: { title: 'Jeans insieme', description: '' },
      en: { title: 'Jeans together', description: '' },
    },
    ...over,
  };
}

async function openNew(over: Partial<CampaignInput> = {}): Promise<string> {
  const created = await createCampaign(ctx(), input(over));
  if (!created.ok) throw new Error(`create failed: ${JSON.stringify(created)}`);
  const opened = await openCampaign(ctx(), created.campaign.id);
  if (!opened.ok) throw new Error(`open failed: ${JSON.stringify(opened)}`);
  return created.campaign.id;
}

const join = (campaignId: string, psid: string, quantity = 1, variantSku: string | null = 'P1-S') =>
  joinCampaign(ctx(), { campaignId, psid, quantity, variantSku, source: { type: 'menu' } });

const campaign = async (id: string) => (await CampaignModel.findById(id).lean())!;
const pledgesOf = (id: string, state?: PledgeState) =>
  PledgeModel.find(
    state ? { campaignId: new Types.ObjectId(id), state } : { campaignId: new Types.ObjectId(id) },
  ).lean();

describe('group buys: service on the embedded MongoDB', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;

  before(async () => {
    db = await connectShopDb();
    await upsertProduct({ pageId }, sampleProduct('P1'));
  });
  after(async () => db?.stop());

  it('2,000 concurrent joins on 100 seats: exactly 100 active pledges, committed 100, 1,900 waitlisted 1..1900', async () => {
    const id = await openNew({
      minQuantity: 100,
      maxQuantity: 100,
      perFanLimit: 1,
      tiers: [{ fromQuantity: 0, unitPrice: 2990 }],
    });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => join(id, `9${String(i).padStart(6, '0')}`)),
    );
    const ms = Date.now() - started;
    console.log(
      `      2,000 concurrent joins on 100 seats: ${ms} ms (${Math.round(2000 / (ms / 1000))} joins/s)`,
    );

    const codes = results.map((r) => r.code);
    expect(codes.filter((c) => c === 'joined')).to.have.length(100);
    expect(codes.filter((c) => c === 'waitlisted')).to.have.length(1900);
    expect(results.filter((r) => r.code === 'joined' && r.tippedNow)).to.have.length(1);

    const c = await campaign(id);
    expect(c.committed).to.equal(100);
    expect(c.pledgeCount).to.equal(100);
    expect(c.waitlistCount).to.equal(1900);
    expect(c.reserving).to.deep.equal([]);
    expect(c.state).to.equal('tipped');
    expect(await pledgesOf(id, 'active')).to.have.length(100);
    const waitlisted = await pledgesOf(id, 'waitlisted');
    const positions = waitlisted.map((p) => p.waitlistPosition!).sort((a, b) => a - b);
    expect(positions).to.deep.equal(Array.from({ length: 1900 }, (_, i) => i + 1));
    expect(await pledgesOf(id, 'pending')).to.have.length(0);

    const reconciled = await reconcileCampaignCounts(ctx(), id);
    expect(reconciled.changed).to.equal(false);
    expect(reconciled.after).to.deep.equal({ committed: 100, pledgeCount: 100, waitlistCount: 1900 });
    // The tipping join announced it to every participant, once.
    expect(
      await OutboxMessageModel.countDocuments({ idempotencyKey: new RegExp(`^gb:${id}:.*:tipped$`) }),
    ).to.equal(100);
  });

  it('joining twice (in a row, or 20 times at once) is one pledge and counts once', async () => {
    const id = await openNew();
    const first = await join(id, '100');
    expect(first).to.deep.include({ ok: true, code: 'joined', committed: 1 });
    const again = await join(id, '100');
    expect(again).to.deep.include({
      ok: true,
      code: 'already_joined',
      changed: false,
      pledgeState: 'active',
    });
    const burst = await Promise.all(Array.from({ length: 20 }, () => join(id, '101')));
    expect(burst.filter((r) => r.code === 'joined')).to.have.length(1);
    expect(await PledgeModel.countDocuments({ campaignId: new Types.ObjectId(id), psid: '101' })).to.equal(1);
    const c = await campaign(id);
    expect(c.committed).to.equal(2);
    expect(c.pledgeCount).to.equal(2);
    expect((await reconcileCampaignCounts(ctx(), id)).changed).to.equal(false);
  });

  it('a changed quantity updates the pledge atomically within the per-fan limit and the seats left', async () => {
    const id = await openNew({
      maxQuantity: 5,
      minQuantity: 5,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id, '200', 1);
    expect(await join(id, '200', 3)).to.deep.include({ code: 'already_joined', changed: true, quantity: 3 });
    expect(await join(id, '200', 4)).to.deep.equal({ ok: false, code: 'over_fan_limit', limit: 3 });
    await join(id, '201', 2); // 5 of 5: full (and tipped)
    expect(await join(id, '200', 1)).to.deep.include({ changed: false, refused: 'locked' });
    const c = await campaign(id);
    expect(c.committed).to.equal(5);
    expect(c.state).to.equal('tipped');
  });

  it('refuses a variant outside the campaign, a closed campaign, a bad quantity', async () => {
    const fixed = await openNew({ variantSku: 'P1-L' });
    expect(await join(fixed, '300', 1, 'P1-S')).to.deep.equal({ ok: false, code: 'variant_unavailable' });
    expect(await join(fixed, '300', 1, null)).to.deep.include({ code: 'joined', variantSku: 'P1-L' });
    const any = await openNew();
    expect(await join(any, '301', 1, 'NOPE')).to.deep.equal({ ok: false, code: 'variant_unavailable' });
    expect(await join(any, '301', 0)).to.deep.equal({ ok: false, code: 'invalid_quantity' });
    const draft = await createCampaign(ctx(), input());
    expect(draft.ok && (await join(draft.campaign.id, '302'))).to.deep.equal({ ok: false, code: 'closed' });
    expect(await join(new Types.ObjectId().toHexString(), '302')).to.deep.equal({
      ok: false,
      code: 'not_found',
    });
    const past = await openNew({ deadline: new Date(clock.getTime() + H) });
    clock = new Date(clock.getTime() + 2 * H);
    try {
      expect(await join(past, '303')).to.deep.equal({ ok: false, code: 'closed' });
    } finally {
      clock = new Date(clock.getTime() - 2 * H);
    }
  });

  it('leaving gives the seats back and promotes the first waitlisted pledge that fits; never after tipping', async () => {
    const id = await openNew({
      minQuantity: 3,
      maxQuantity: 3,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id, '400', 2);
    expect(await join(id, '401', 2)).to.deep.include({ code: 'waitlisted', position: 1 });
    expect(await join(id, '402', 1)).to.deep.include({ code: 'joined', tippedNow: true });
    const id2 = await openNew({
      minQuantity: 4,
      maxQuantity: 4,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id2, '410', 3);
    expect(await join(id2, '411', 2)).to.deep.include({ code: 'waitlisted', position: 1 });
    expect(await join(id2, '412', 1)).to.deep.include({ code: 'joined', tippedNow: true });
    expect(await leaveCampaign(ctx(), { campaignId: id2, psid: '410' })).to.deep.equal({
      ok: false,
      code: 'locked',
    });

    const id3 = await openNew({
      minQuantity: 4,
      maxQuantity: 4,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id3, '420', 3);
    await join(id3, '421', 2); // waitlisted #1
    await join(id3, '422', 1); // waitlisted? no: 3 + 1 = 4 → joins and tips... use a third that does not fit
    const c3 = await campaign(id3);
    expect(c3.state).to.equal('tipped');

    const id4 = await openNew({
      minQuantity: 5,
      maxQuantity: 5,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id4, '430', 3);
    await join(id4, '431', 1);
    expect(await join(id4, '432', 2)).to.deep.include({ code: 'waitlisted', position: 1 });
    expect(await join(id4, '433', 3)).to.deep.include({ code: 'waitlisted', position: 2 });
    const left = await leaveCampaign(ctx(), { campaignId: id4, psid: '430' });
    expect(left).to.deep.equal({ ok: true, left: 'active', promoted: 1 }); // 432 (2) fits; 433 (3) would not
    const c4 = await campaign(id4);
    expect(c4.committed).to.equal(3);
    expect(c4.waitlistCount).to.equal(1);
    expect((await PledgeModel.findOne({ campaignId: c4._id, psid: '432' }).lean())!.state).to.equal('active');
    expect(await OutboxMessageModel.countDocuments({ idempotencyKey: `gb:${id4}:432:promoted:1` })).to.equal(
      1,
    );
    expect((await reconcileCampaignCounts(ctx(), id4)).changed).to.equal(false);
    // Coming back after leaving re-uses the same pledge document.
    expect(await join(id4, '430', 1)).to.deep.include({ code: 'joined' });
    expect(await PledgeModel.countDocuments({ campaignId: c4._id, psid: '430' })).to.equal(1);
  });

  it('a join that died midway never counts twice: the janitor finishes it from the reserving marker', async () => {
    const id = await openNew({ maxQuantity: 10 });
    const _id = new Types.ObjectId(id);
    // Died after step 2 (seats taken, marker set) and one that died after step 1 (nothing taken).
    const base = {
      pageId,
      campaignId: _id,
      quantity: 2,
      variantSku: 'P1-S',
      source: { type: 'menu' as const },
    };
    const old = new Date(clock.getTime() - 5 * 60_000);
    const [seated, unseated] = await PledgeModel.create([
      { ...base, psid: '500', state: 'pending' as const, createdAt: old, joinedAt: old },
      { ...base, psid: '501', state: 'pending' as const, createdAt: old, joinedAt: old },
    ]);
    await CampaignModel.updateOne(
      { _id },
      { $inc: { committed: 2, pledgeCount: 1, version: 1 }, $push: { reserving: seated!._id } },
    );
    // A fresh pending pledge (a join in flight right now) is left alone and counted by its marker.
    const fresh = await PledgeModel.create({
      ...base,
      psid: '502',
      state: 'pending' as const,
      createdAt: clock,
      joinedAt: clock,
    });
    await CampaignModel.updateOne(
      { _id },
      { $inc: { committed: 2, pledgeCount: 1, version: 1 }, $push: { reserving: fresh._id } },
    );
    expect(await join(id, '502', 2)).to.deep.include({ code: 'already_joined', pledgeState: 'pending' });

    const r = await reconcileCampaignCounts(ctx(), id);
    expect(r.resumed).to.equal(2);
    expect(r.after).to.deep.equal({ committed: 6, pledgeCount: 3, waitlistCount: 0 });
    expect((await PledgeModel.findById(seated!._id).lean())!.state).to.equal('active');
    expect((await PledgeModel.findById(unseated!._id).lean())!.state).to.equal('active');
    const c = await campaign(id);
    expect(c.committed).to.equal(6);
    expect(c.reserving.map(String)).to.deep.equal([String(fresh._id)]);
    // Running it again changes nothing.
    expect((await reconcileCampaignCounts(ctx(), id)).changed).to.equal(false);
    // A counter knocked out of true is recomputed from the pledges.
    await CampaignModel.updateOne({ _id }, { $inc: { committed: 7, version: 1 } });
    expect((await reconcileCampaignCounts(ctx(), id)).after.committed).to.equal(6);
  });

  it('the same join event run again after a crash resumes its own fresh pending pledge at once; another event waits', async () => {
    const id = await openNew({ maxQuantity: 10 });
    const _id = new Types.ObjectId(id);
    // The first run of event mid:A died after step 1: a fresh pending pledge carrying its event key.
    const base = {
      pageId,
      campaignId: _id,
      quantity: 1,
      variantSku: 'P1-S',
      source: { type: 'menu' as const },
    };
    await PledgeModel.create({
      ...base,
      psid: '510',
      state: 'pending' as const,
      createdAt: clock,
      joinedAt: clock,
      joinEventKey: 'mid:A',
    });
    const input = {
      campaignId: id,
      psid: '510',
      quantity: 1,
      variantSku: 'P1-S',
      source: { type: 'menu' as const },
    };
    // A different event of the same fan meanwhile: the join in flight is not its own.
    expect(await joinCampaign(ctx(), { ...input, eventKey: 'mid:B' })).to.deep.include({
      code: 'already_joined',
      pledgeState: 'pending',
    });
    // The re-run of mid:A finishes it: counted once, now, not when the janitor finds it stale.
    expect(await joinCampaign(ctx(), { ...input, eventKey: 'mid:A' })).to.deep.include({
      code: 'already_joined',
      pledgeState: 'active',
    });
    expect(await joinCampaign(ctx(), { ...input, eventKey: 'mid:A' })).to.deep.include({
      pledgeState: 'active',
    });
    const c = await campaign(id);
    expect([c.committed, c.pledgeCount]).to.deep.equal([1, 1]);
    expect(await pledgesOf(id, 'active')).to.have.length(1);
  });

  it('announceTipping: one message per participant (paged), the tipping tier price, one order each; a re-run sends nothing', async () => {
    const id = await openNew({ minQuantity: 450, maxQuantity: null, perFanLimit: 1 });
    const _id = new Types.ObjectId(id);
    // 449 pledges written as the join would leave them, then the tipping join through the service.
    await PledgeModel.insertMany(
      Array.from({ length: 449 }, (_, i) => ({
        pageId,
        campaignId: _id,
        psid: `8${String(i).padStart(5, '0')}`,
        quantity: 1,
        variantSku: 'P1-S',
        state: 'active',
        source: { type: 'menu' },
        createdAt: clock,
        joinedAt: clock,
      })),
    );
    await CampaignModel.updateOne({ _id }, { $set: { committed: 449, pledgeCount: 449 } });
    const tipping = await join(id, '899999');
    expect(tipping).to.deep.include({ code: 'joined', tippedNow: true, committed: 450 });
    const keys = await OutboxMessageModel.find({ idempotencyKey: new RegExp(`^gb:${id}:`) }).lean();
    expect(keys).to.have.length(450);
    expect(keys.every((k) => k.purpose === 'groupbuy_update')).to.equal(true);
    const body = JSON.parse(keys[0]!.body) as {
      attachment: { payload: { text: string; buttons: { url: string }[] } };
    };
    expect(body.attachment.payload.text).to.contain('34,90');
    expect(body.attachment.payload.buttons[0]!.url).to.match(/\/orders\//);
    expect(await OrderModel.countDocuments({ idempotencyKey: new RegExp(`^gb:${id}:.*:order$`) })).to.equal(
      450,
    );
    expect(await PledgeModel.countDocuments({ campaignId: _id, priceAtTipping: 3490 })).to.equal(450);
    expect(await PledgeModel.countDocuments({ campaignId: _id, orderId: null })).to.equal(0);

    const again = await announceTipping(ctx(), id);
    expect(again).to.deep.equal({ created: 0, duplicates: 450, participants: 450 });
    expect(await OrderModel.countDocuments({ idempotencyKey: new RegExp(`^gb:${id}:.*:order$`) })).to.equal(
      450,
    );
  });

  it('cancel (open or tipped) tells each participant once and releases the pledges; draft cancel is forbidden', async () => {
    const id = await openNew({
      maxQuantity: 2,
      minQuantity: 2,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id, '600');
    await join(id, '601');
    await join(id, '602'); // waitlisted
    const res = await cancelCampaign(ctx(), id);
    expect(res).to.deep.include({ ok: true, released: 3, notified: 3, already: false });
    expect(await pledgesOf(id, 'released')).to.have.length(3);
    const again = await cancelCampaign(ctx(), id);
    expect(again).to.deep.include({ ok: true, released: 0, notified: 0, already: true });
    expect(
      await OutboxMessageModel.countDocuments({ idempotencyKey: new RegExp(`^gb:${id}:.*:cancelled$`) }),
    ).to.equal(3);
    expect(await join(id, '603')).to.deep.equal({ ok: false, code: 'closed' });
    const draft = await createCampaign(ctx(), input());
    expect(draft.ok && (await cancelCampaign(ctx(), draft.campaign.id))).to.deep.include({
      ok: false,
      code: 'forbidden_transition',
    });
  });

  it('manager ops: drafts are editable (version-checked), open ones are not; the deadline never moves after opening', async () => {
    const created = await createCampaign(ctx(), input({ slug: 'EDIT1' }));
    if (!created.ok) throw new Error('create');
    expect(await createCampaign(ctx(), input({ slug: 'EDIT1' }))).to.deep.equal({
      ok: false,
      code: 'slug_taken',
    });
    expect(
      await createCampaign(ctx(), input({ tiers: [{ fromQuantity: 0, unitPrice: 10.5 }] })),
    ).to.deep.include({ ok: false, code: 'invalid', problem: 'price_not_integer' });
    expect(await createCampaign(ctx(), input({ productSku: 'NOPE' }))).to.deep.include({
      problem: 'product_not_found',
    });
    const edited = await updateCampaign(
      ctx(),
      created.campaign.id,
      { minQuantity: 7 },
      { expectedVersion: 0 },
    );
    expect(edited.ok && edited.campaign.minQuantity).to.equal(7);
    expect(
      await updateCampaign(ctx(), created.campaign.id, { minQuantity: 8 }, { expectedVersion: 0 }),
    ).to.deep.include({
      code: 'version_conflict',
    });
    await openCampaign(ctx(), created.campaign.id);
    expect(
      await updateCampaign(ctx(), created.campaign.id, { deadline: new Date(clock.getTime() + 99 * H) }),
    ).to.deep.include({
      ok: false,
      code: 'forbidden_transition',
    });
    expect(await openCampaign(ctx(), created.campaign.id)).to.deep.include({ code: 'forbidden_transition' });
    const seen = await inspectCampaign(ctx(), created.campaign.id, { limit: 10 });
    expect(seen!.forecast.verdict).to.equal('too_early');
    expect(seen!.timeLeft).to.deep.include({ unit: 'days', count: 2 });
  });

  it('a capped campaign with autoNextBatch opens the next batch when it fills; the waitlist moves in, in order', async () => {
    const id = await openNew({
      slug: 'BATCH',
      minQuantity: 3,
      maxQuantity: 3,
      perFanLimit: 2,
      autoNextBatch: true,
      tiers: [{ fromQuantity: 0, unitPrice: 1000 }],
    });
    await join(id, '700', 2);
    // Waitlisted before the batch fills (2 does not fit in the 1 left).
    expect(await join(id, '701', 2)).to.deep.include({ code: 'waitlisted' });
    const filling = await join(id, '702', 1);
    expect(filling).to.deep.include({ code: 'joined', filledNow: true });
    const c = await campaign(id);
    expect(c.batch!.nextCampaignId).to.not.equal(null);
    const next = await campaign(String(c.batch!.nextCampaignId));
    expect(next).to.deep.include({ slug: 'BATCH-b2', state: 'open', maxQuantity: 3 });
    expect(next.batch!.number).to.equal(2);
    const moved = await PledgeModel.findOne({ campaignId: next._id, psid: '701' }).lean();
    expect(moved).to.deep.include({ state: 'active', quantity: 2 });
    expect((await PledgeModel.findOne({ campaignId: c._id, psid: '701' }).lean())!.state).to.equal(
      'released',
    );
    expect(c.waitlistCount).to.equal(0);
    // A later join of the full batch lands in the next one.
    const later = await join(id, '703', 1);
    expect(later).to.deep.include({ code: 'joined', campaignId: String(next._id), tippedNow: true });
    const mine = await myGroupBuys(ctx(), '701');
    expect(mine.map((m) => m.campaign.slug)).to.deep.equal(['BATCH-b2']);
  });
});
