import { expect } from 'chai';
import { Types } from 'mongoose';
import { upsertProduct } from '../../src/app/catalog.js';
import { createOrder, transitionOrder } from '../../src/app/orders.js';
import {
  castVote,
  confirmCommentVote,
  createProposal,
  handleVoteComment,
  linkProposalPost,
  publishProposal,
  reconcileTallies,
  runProposalJanitor,
  setNotifyWhenMade,
  type ProposalContext,
  type ProposalInput,
} from '../../src/app/proposals.js';
import { ratingSummary, runFeedbackRequests, setReviewHidden, submitRating } from '../../src/app/reviews.js';
import { socialProofFor } from '../../src/app/social-proof.js';
import { loadConfig } from '../../src/config/index.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { ProposalModel } from '../../src/db/models/proposal.js';
import { FeedbackRequestModel, ReviewModel } from '../../src/db/models/review.js';
import { VoteModel } from '../../src/db/models/vote.js';
import { decide, standings, validateProposal } from '../../src/domain/proposal.js';
import { money } from '../../src/domain/money.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

const H = 60 * 60 * 1000;
const config = loadConfig({});
const pageId = config.facebook.page.id;
const clock = new Date('2026-05-01T10:00:00Z');
const ctx = (): ProposalContext => ({ pageId, now: clock, config });

let n = 0;
function input(over: Partial<ProposalInput> = {}): ProposalInput {
  return {
    code: `COL${++n}`,
    kind: 'choice',
    options: [
      { id: 'blu', texts: { it: 'Blu', en: 'Blue' }, productSku: 'P1' },
      { id: 'nero', texts: { it: 'Nero', en: 'Black' }, productSku: 'P1' },
      { id: 'verde', texts: { it: 'Verde', en: 'Green' }, productSku: 'P1' },
    ],
    texts: { it: { title: 'Che colore?', description: '' }, en: { title: 'Which colour?', description: '' } },
    deadline: new Date(clock.getTime() + 48 * H),
    threshold: 1_000_000,
    onDecision: 'open_campaign',
    campaignTemplate: {
      minQuantity: 10,
      maxQuantity: null,
      tiers: [{ fromQuantity: 0, unitPrice: 3990 }],
      deadlineOffsetHours: 72,
      perFanLimit: 2,
    },
    ...over,
  };
}

async function published(over: Partial<ProposalInput> = {}): Promise<string> {
  const c = await createProposal(ctx(), input(over));
  if (!c.ok) throw new Error(JSON.stringify(c));
  const p = await publishProposal(ctx(), c.proposal.id);
  if (!p.ok) throw new Error(JSON.stringify(p));
  return c.proposal.id;
}

const tallies = async (id: string) =>
  Object.fromEntries(((await ProposalModel.findById(id).lean())!.options ?? []).map((o) => [o.id, o.tally]));
async function recount(id: string) {
  const out: Record<string, number> = { blu: 0, nero: 0, verde: 0 };
  for (const v of await VoteModel.find({ proposalId: new Types.ObjectId(id) }).lean()) out[v.optionId]! += 1;
  return out;
}
async function fan(psid: string, over: Record<string, unknown> = {}) {
  await FanModel.updateOne(
    { pageId, psid },
    { $set: { locale: 'it', firstInteractionAt: clock, lastInteractionAt: clock, ...over } },
    { upsert: true },
  );
}

describe('co-design: pure rules', () => {
  it('ties are broken by the manager’s order; threshold wins at once; deadline picks the leader or expires', () => {
    const opts = [
      { id: 'a', tally: 3 },
      { id: 'b', tally: 5 },
      { id: 'c', tally: 5 },
    ];
    expect(standings(opts).map((o) => o.id)).to.deep.equal(['b', 'c', 'a']);
    const base = {
      state: 'voting' as const,
      threshold: 5,
      deadline: new Date(clock.getTime() + H),
      options: opts,
    };
    expect(decide(base, clock)).to.deep.include({ decide: true, winnerOptionId: 'b', by: 'threshold' });
    expect(decide({ ...base, threshold: 9 }, clock)).to.deep.equal({ decide: false });
    const late = new Date(clock.getTime() + 2 * H);
    expect(decide({ ...base, threshold: 9 }, late)).to.deep.include({ winnerOptionId: 'b', by: 'deadline' });
    const none = opts.map((o) => ({ ...o, tally: 0 }));
    expect(decide({ ...base, options: none }, late)).to.deep.include({ outcome: 'expired' });
    expect(validateProposal({ ...input(), options: [{ id: 'x', productSku: null }] }, clock)).to.deep.include(
      {
        ok: false,
        code: 'too_few_options',
      },
    );
  });
});

describe('co-design: proposals, votes, reviews and social proof on the embedded MongoDB', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;

  before(async () => {
    db = await connectShopDb();
    await upsertProduct({ pageId }, sampleProduct('P1'));
    await upsertProduct({ pageId }, sampleProduct('P2'));
  });
  after(async () => db?.stop());

  it('one vote per fan: voting again changes it (the old option loses exactly one)', async () => {
    const id = await published();
    const a = await castVote(ctx(), { proposalId: id, psid: 'f1', optionId: 'blu', source: 'messenger' });
    expect(a).to.deep.include({ ok: true, code: 'voted' });
    const b = await castVote(ctx(), { proposalId: id, psid: 'f1', optionId: 'blu', source: 'messenger' });
    expect(b).to.deep.include({ ok: true, code: 'unchanged' });
    const c = await castVote(ctx(), { proposalId: id, psid: 'f1', optionId: 'nero', source: 'messenger' });
    expect(c).to.deep.include({ ok: true, code: 'changed', previous: 'blu' });
    expect(await tallies(id)).to.deep.equal({ blu: 0, nero: 1, verde: 0 });
    expect(await VoteModel.countDocuments({ proposalId: new Types.ObjectId(id) })).to.equal(1);
    const bad = await castVote(ctx(), { proposalId: id, psid: 'f1', optionId: 'rosa', source: 'messenger' });
    expect(bad).to.deep.equal({ ok: false, code: 'unknown_option' });
  });

  it('300 concurrent votes and changes (by 150 fans) → tallies equal a recount; reconcile finds nothing to fix', async () => {
    const id = await published();
    const opts = ['blu', 'nero', 'verde'];
    const ops = Array.from({ length: 300 }, (_, i) => ({
      psid: `c${i % 150}`,
      optionId: opts[(i * 7 + Math.floor(i / 150)) % 3]!,
    }));
    const results = await Promise.all(
      ops.map((o) => castVote(ctx(), { proposalId: id, ...o, source: 'messenger' })),
    );
    expect(results.every((r) => r.ok)).to.equal(true);
    const t = await tallies(id);
    expect(t).to.deep.equal(await recount(id));
    expect(t.blu! + t.nero! + t.verde!).to.equal(150);
    const r = await reconcileTallies(ctx(), id);
    expect(r!.written).to.equal(false);
    expect((await ProposalModel.findById(id).lean())!.applying).to.deep.equal([]);
  });

  it('reconcile repairs drift (a change whose tally step was lost) and finishes a crashed change', async () => {
    const id = await published();
    await castVote(ctx(), { proposalId: id, psid: 'd1', optionId: 'blu', source: 'messenger' });
    // A crash after step 1: the vote moved to `verde`, the tallies did not.
    await VoteModel.updateOne(
      { proposalId: new Types.ObjectId(id), psid: 'd1' },
      { $set: { optionId: 'verde', from: 'blu', seq: 2, updatedAt: new Date(clock.getTime() - 5 * 60_000) } },
    );
    expect(await tallies(id)).to.deep.equal({ blu: 1, nero: 0, verde: 0 });
    const r = await reconcileTallies(ctx(), id);
    expect(r!.finished).to.equal(1);
    expect(await tallies(id)).to.deep.equal({ blu: 0, nero: 0, verde: 1 });
    await ProposalModel.updateOne({ _id: id }, { $set: { 'options.1.tally': 7 } }); // drift
    expect((await reconcileTallies(ctx(), id))!.written).to.equal(true);
    expect(await tallies(id)).to.deep.equal({ blu: 0, nero: 0, verde: 1 });
  });

  it('the threshold crossed by concurrent votes opens exactly one campaign and invites each voter once', async () => {
    const id = await published({ threshold: 20, code: 'THR1' });
    const psids = Array.from({ length: 60 }, (_, i) => `t${i}`);
    for (const p of psids) await fan(p);
    await castVote(ctx(), { proposalId: id, psid: 't0', optionId: 'nero', source: 'messenger' });
    await setNotifyWhenMade(ctx(), id, 't0');
    const results = await Promise.all(
      psids
        .slice(1)
        .map((psid) => castVote(ctx(), { proposalId: id, psid, optionId: 'nero', source: 'messenger' })),
    );
    const decidedNow = results.filter((r) => r.ok && r.decidedNow);
    expect(decidedNow).to.have.length(1);
    const closed = results.filter((r) => !r.ok);
    expect(closed.every((r) => r.code === 'closed')).to.equal(true);
    const p = (await ProposalModel.findById(id).lean())!;
    expect(p.state).to.equal('decided');
    expect(p.winnerOptionId).to.equal('nero');
    const campaigns = await CampaignModel.find({ pageId, slug: 'THR1-nero' }).lean();
    expect(campaigns).to.have.length(1);
    expect(campaigns[0]!.state).to.equal('open');
    expect(p.campaignId).to.equal(String(campaigns[0]!._id));
    // The job running again (and again) changes nothing: same campaign, nobody invited twice.
    await runProposalJanitor(ctx());
    await runProposalJanitor(ctx());
    expect(await CampaignModel.countDocuments({ pageId, slug: 'THR1-nero' })).to.equal(1);
    const voters = await VoteModel.find({ proposalId: new Types.ObjectId(id), optionId: 'nero' }).lean();
    const invites = await OutboxMessageModel.find({ idempotencyKey: { $regex: `^prop:${id}:` } }).lean();
    expect(invites).to.have.length(voters.length);
    expect(new Set(invites.map((m) => m.idempotencyKey)).size).to.equal(voters.length);
    expect(invites.every((m) => m.purpose === 'promotion')).to.equal(true);
    expect(invites.map((m) => m.idempotencyKey)).to.include(`prop:${id}:t0:invite`);
    const t0 = await FanModel.findOne({ pageId, psid: 't0' }).lean();
    expect(t0!.interests).to.include('THR1-nero');
  });

  it('a comment naming an option votes once, after the fan confirms in the private reply', async () => {
    const id = await published({ code: 'CMT1' });
    await linkProposalPost(ctx(), id, `${pageId}_777`);
    const c1 = { commentId: `${pageId}_777_1`, postId: `${pageId}_777`, message: 'Io voto il VERDE!!' };
    expect(await handleVoteComment(ctx(), c1)).to.equal('queued');
    expect(await handleVoteComment(ctx(), c1)).to.equal('duplicate');
    expect(await handleVoteComment(ctx(), { ...c1, commentId: 'x2', message: 'blu o nero?' })).to.equal(
      'no_option',
    );
    expect(await OutboxMessageModel.countDocuments({ idempotencyKey: `pr:${c1.commentId}` })).to.equal(1);
    expect(await tallies(id)).to.deep.equal({ blu: 0, nero: 0, verde: 0 });
    const [a, b] = await Promise.all([
      confirmCommentVote(ctx(), c1.commentId, 'cm1'),
      confirmCommentVote(ctx(), c1.commentId, 'cm1'),
    ]);
    expect([a, b].filter((r) => r.ok && !r.already)).to.have.length(1);
    expect(await confirmCommentVote(ctx(), c1.commentId, 'someone-else')).to.deep.equal({
      ok: false,
      code: 'other_fan',
    });
    expect(await tallies(id)).to.deep.equal({ blu: 0, nero: 0, verde: 1 });
    const v = await VoteModel.findOne({ proposalId: new Types.ObjectId(id), psid: 'cm1' }).lean();
    expect(v!.source).to.equal('comment');
  });

  async function deliveredOrder(psid: string, sku: string, key: string, state = 'delivered') {
    const { order } = await createOrder(
      { pageId, now: clock, config },
      {
        psid,
        lines: [
          {
            sku,
            variantSku: `${sku}-S`,
            title: { it: 'Jeans', en: 'Jeans' },
            variantLabel: 'S',
            unitPrice: money(4990, 'EUR'),
            qty: 1,
          },
        ],
        source: { type: 'cart', cartId: key },
        idempotencyKey: key,
      },
    );
    const path = ['paid', 'shipped', 'delivered'];
    for (const to of path.slice(0, path.indexOf(state) + 1)) {
      const r = await transitionOrder({ pageId, now: clock, config }, order.id, to as 'paid', {
        type: 'system',
        id: 'test',
      });
      if (!r.ok) throw new Error(JSON.stringify(r));
    }
    return order.id;
  }

  it('ratings only from the buyer of a delivered order; concurrent submissions average right; social proof tells the truth', async () => {
    const rctx = { pageId, now: clock, config };
    const paidOnly = await deliveredOrder('b0', 'P2', 'k-paid', 'paid');
    expect(await submitRating(rctx, { psid: 'b0', orderId: paidOnly, stars: 5 })).to.deep.equal({
      ok: false,
      code: 'not_delivered',
    });
    const ids: { psid: string; id: string; stars: number }[] = [];
    for (let i = 0; i < 40; i++)
      ids.push({
        psid: `b${i + 1}`,
        id: await deliveredOrder(`b${i + 1}`, 'P2', `k${i}`),
        stars: (i % 5) + 1,
      });
    expect(await submitRating(rctx, { psid: 'intruder', orderId: ids[0]!.id, stars: 1 })).to.deep.equal({
      ok: false,
      code: 'not_found',
    });
    // Every buyer rates at once, twice (the second identical): one review each, average exact.
    await Promise.all(
      [...ids, ...ids].map((x) => submitRating(rctx, { psid: x.psid, orderId: x.id, stars: x.stars })),
    );
    const sum = ids.reduce((s, x) => s + x.stars, 0);
    const summary = await ratingSummary(rctx, 'P2');
    expect(summary).to.deep.equal({ count: 40, sum, average: Math.round((sum * 10) / 40) / 10 });
    expect(await ReviewModel.countDocuments({ productSku: 'P2' })).to.equal(40);

    await fan('b1', { firstName: 'Anna' });
    await ReviewModel.updateOne(
      { psid: 'b1' },
      { $set: { text: 'Calza benissimo', showName: true, updatedAt: new Date(clock.getTime() + 1000) } },
    );
    const proof = await socialProofFor(rctx, 'P2', 'it');
    // 41 buyers: 40 delivered + 1 paid.
    expect(proof.text).to.equal(
      `★ ${summary.average!.toFixed(1).replace('.', ',')} (40) · 41 persone l'hanno comprato · «Calza benissimo» — Anna`,
    );
    const en = await socialProofFor(rctx, 'P2', 'en');
    expect(en.text).to.equal(
      `★ ${summary.average!.toFixed(1)} (40) · 41 people bought this · “Calza benissimo” — Anna`,
    );

    // Hiding the text (audited) removes the quote but never the stars.
    const review = await ReviewModel.findOne({ psid: 'b1' }).lean();
    const hidden = await setReviewHidden(
      { pageId, now: clock, actor: { kind: 'manager', id: 'm1' } },
      String(review!._id),
      true,
      'abuse',
    );
    expect(hidden).to.deep.include({ ok: true, changed: true });
    const after = await socialProofFor(rctx, 'P2', 'it');
    expect(after.quote).to.equal(null);
    expect(after.rating).to.deep.equal(summary);
    expect((await socialProofFor(rctx, 'NOPE', 'it')).text).to.equal(null);
  });

  it('feedback requests: one per delivered order inside the window (fb:<orderId>), refusal recorded after a week', async () => {
    const rctx = { pageId, now: clock, config };
    await fan('fb-in', { lastInteractionAt: new Date(clock.getTime() - H) });
    await fan('fb-out', { lastInteractionAt: new Date(clock.getTime() - 48 * H) });
    const inside = await deliveredOrder('fb-in', 'P1', 'fb-k1');
    const outside = await deliveredOrder('fb-out', 'P1', 'fb-k2');
    const r1 = await runFeedbackRequests(rctx);
    expect(r1.queued).to.be.greaterThan(0);
    await runFeedbackRequests(rctx);
    const msgs = await OutboxMessageModel.find({ idempotencyKey: `fb:${inside}` }).lean();
    expect(msgs).to.have.length(1);
    expect(msgs[0]!.purpose).to.equal('feedback_request');
    expect(await OutboxMessageModel.countDocuments({ idempotencyKey: `fb:${outside}` })).to.equal(0);
    await runFeedbackRequests({ ...rctx, now: new Date(clock.getTime() + 8 * 24 * H) });
    const refused = await FeedbackRequestModel.findOne({ orderId: outside }).lean();
    expect(refused).to.deep.include({ state: 'refused', reason: 'outside_window' });
  });
});
