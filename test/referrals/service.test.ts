import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { appendEntry, balance, spendCredit, spendableCredit } from '../../src/app/ledger.js';
import { createOrder, transitionOrder, type OrdersContext } from '../../src/app/orders.js';
import {
  attributeArrival,
  codeFor,
  inviteLink,
  myInvites,
  onOrderCancelled,
  onOrderPaid,
  setRewardConfig,
  settleRewards,
  takePendingNotices,
  type ReferralContext,
} from '../../src/app/referrals.js';
import { loadConfig } from '../../src/config/index.js';
import { FanModel } from '../../src/db/models/fan.js';
import { LedgerEntryModel } from '../../src/db/models/ledger-entry.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { ReferralModel } from '../../src/db/models/referral.js';
import { money } from '../../src/domain/money.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const config = loadConfig({});
const pageId = config.facebook.page.id;
let clock = new Date('2026-05-01T10:00:00Z');
const ctx = (): ReferralContext & OrdersContext => ({ pageId, now: clock, config });
let n = 0;
const psid = (p = 'S') => `${p}${String(++n).padStart(6, '0')}`;
const refOf = async (referrer: string) => (await inviteLink(ctx(), referrer)).ref;
const arrive = (invitee: string, ref: string, eventKey = `ev:${++n}`) =>
  attributeArrival(ctx(), { inviteePsid: invitee, ref, source: 'SHORTLINK', eventKey });
const decisionOf = async (invitee: string) =>
  (await ReferralModel.findOne({ pageId, inviteePsid: invitee, scope: 'page' }).lean())!;

async function order(buyer: string, total = 4990) {
  const { order } = await createOrder(ctx(), {
    psid: buyer,
    lines: [
      {
        sku: 'R1',
        variantSku: 'R1-S',
        title: { it: 'J', en: 'J' },
        variantLabel: 'S',
        unitPrice: money(total, 'EUR'),
        qty: 1,
      },
    ],
    source: { type: 'cart', cartId: `cart-${++n}` },
    idempotencyKey: `test:${++n}`,
  });
  return order;
}

describe('referrals: service on the embedded MongoDB', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;

  before(async () => {
    db = await connectShopDb();
    await upsertProduct({ pageId }, sampleProduct('R1'));
    await setRewardConfig(
      ctx(),
      'page',
      { referrer: { kind: 'credit', amount: 500 }, friend: { kind: 'points', points: 20 } },
      'test',
    );
  });
  after(async () => db?.stop());

  describe('codes', () => {
    it('one code per fan, stable, unique per page', async () => {
      const a = psid();
      const codes = await Promise.all(Array.from({ length: 10 }, () => codeFor(ctx(), a)));
      expect(new Set(codes).size).to.equal(1);
      const link = await inviteLink(ctx(), a, 'GB1');
      expect(link.url).to.equal(`https://m.me/${pageId}?ref=r_${codes[0]}_GB1`);
    });
  });

  describe('attribution', () => {
    it('first touch wins inside the window, a retried event records one decision, expiry lets a new link in', async () => {
      const [a, c, b] = [psid(), psid(), psid()];
      const first = await arrive(b, await refOf(a), 'ev:first');
      expect(first.ours && first.attributed).to.equal(true);
      await arrive(b, await refOf(a), 'ev:first'); // the same event, retried
      expect((await decisionOf(b)).decisions).to.have.length(1);
      const second = await arrive(b, await refOf(c));
      expect(second.ours && second.outcomes[0]!.outcome).to.deep.equal({
        decision: 'kept',
        reason: 'within_window',
      });
      expect((await decisionOf(b)).referrerPsid).to.equal(a);
      clock = new Date(clock.getTime() + 31 * DAY);
      const third = await arrive(b, await refOf(c));
      expect(third.ours && third.outcomes[0]!.outcome).to.deep.equal({
        decision: 'attributed',
        reason: 'window_expired',
      });
      const rec = await decisionOf(b);
      expect(rec.referrerPsid).to.equal(c);
      expect(rec.decisions.map((d) => d.reason)).to.deep.equal([
        'first_touch',
        'within_window',
        'window_expired',
      ]);
    });

    it('refuses self-referral and the loop A→B→A, with their reasons', async () => {
      const [a, b] = [psid(), psid()];
      const self = await arrive(a, await refOf(a));
      expect(self.ours && self.outcomes[0]!.outcome.reason).to.equal('self_referral');
      await arrive(b, await refOf(a));
      const loop = await arrive(a, await refOf(b));
      expect(loop.ours && loop.outcomes[0]!.outcome).to.deep.equal({ decision: 'refused', reason: 'loop' });
      expect((await decisionOf(a)).decision).to.equal('refused');
    });

    it('refuses farming: more than the configured invitees per hour from one referrer', async () => {
      await setRewardConfig(
        ctx(),
        'page',
        {
          referrer: { kind: 'credit', amount: 500 },
          friend: { kind: 'points', points: 20 },
          maxInviteesPerHour: 3,
        },
        'test',
      );
      try {
        const a = psid();
        const ref = await refOf(a);
        const results = [];
        for (let i = 0; i < 5; i++) results.push(await arrive(psid(), ref));
        expect(results.map((r) => r.ours && r.outcomes[0]!.outcome.reason)).to.deep.equal([
          'first_touch',
          'first_touch',
          'first_touch',
          'farming_rate',
          'farming_rate',
        ]);
        clock = new Date(clock.getTime() + 2 * 60 * 60 * 1000);
        const later = await arrive(psid(), ref);
        expect(later.ours && later.outcomes[0]!.outcome.reason).to.equal('first_touch');
      } finally {
        await setRewardConfig(
          ctx(),
          'page',
          { referrer: { kind: 'credit', amount: 500 }, friend: { kind: 'points', points: 20 } },
          'test',
        );
      }
    });

    it('refuses farming: a referrer whose recent invitees never came back', async () => {
      const a = psid();
      const ref = await refOf(a);
      for (let i = 0; i < 10; i++) {
        const b = psid();
        await FanModel.create({
          pageId,
          psid: b,
          locale: 'it',
          firstInteractionAt: clock,
          lastInteractionAt: clock,
        });
        await arrive(b, ref);
      }
      clock = new Date(clock.getTime() + 2 * DAY);
      const next = await arrive(psid(), ref);
      expect(next.ours && next.outcomes[0]!.outcome.reason).to.equal('farming_dormant');
    });

    it('tells the referrer inside their window through the outbox; otherwise on their next visit', async () => {
      const [a, b, c] = [psid(), psid(), psid()];
      await FanModel.create({
        pageId,
        psid: a,
        locale: 'en',
        firstInteractionAt: clock,
        lastInteractionAt: clock,
      });
      await FanModel.create({
        pageId,
        psid: b,
        locale: 'it',
        firstName: 'Giulia',
        lastName: 'Rossi',
        firstInteractionAt: clock,
        lastInteractionAt: clock,
      });
      const r = await arrive(b, await refOf(a));
      const notice = await OutboxMessageModel.findOne({ pageId, 'recipient.psid': a }).lean();
      expect(notice!.purpose).to.equal('reminder');
      expect(notice!.idempotencyKey).to.equal(`ref:${r.ours && r.outcomes[0]!.referralId}:notice`);
      expect(JSON.parse(notice!.body as string).text).to.contain('G. R. came through your link');

      clock = new Date(clock.getTime() + 2 * DAY); // a's window has closed
      await arrive(c, await refOf(a));
      expect(await OutboxMessageModel.countDocuments({ pageId, 'recipient.psid': a })).to.equal(1);
      expect(await takePendingNotices(ctx(), a, 'ev:visit')).to.deep.equal(['']);
      expect(await takePendingNotices(ctx(), a, 'ev:visit')).to.deep.equal(['']); // the same turn retried
      expect(await takePendingNotices(ctx(), a, 'ev:later')).to.deep.equal([]);
    });
  });

  describe('rewards on the order lifecycle', () => {
    it('paid → earn (both sides); cancelled → reverse; every step idempotent; first order only', async () => {
      const [a, b] = [psid(), psid()];
      await arrive(b, await refOf(a));
      const referralId = String((await decisionOf(b))._id);
      const o1 = await order(b);
      expect((await transitionOrder(ctx(), o1.id, 'paid', { type: 'system' })).ok).to.equal(true);
      expect(await balance(ctx(), a, 'EUR')).to.equal(500);
      expect(await balance(ctx(), b, 'points')).to.equal(20);
      // Retries of the hook and of the move add nothing.
      await onOrderPaid(ctx(), { ...o1, total: o1.total });
      expect((await transitionOrder(ctx(), o1.id, 'paid', { type: 'system' })).ok).to.equal(false);
      expect(await balance(ctx(), a, 'EUR')).to.equal(500);
      expect(
        await LedgerEntryModel.countDocuments({ idempotencyKey: `ref:${referralId}:order:${o1.id}:earn` }),
      ).to.equal(1);

      // A second paid order earns nothing more (first order only).
      const o2 = await order(b);
      await transitionOrder(ctx(), o2.id, 'paid', { type: 'system' });
      expect(await balance(ctx(), a, 'EUR')).to.equal(500);

      // The rewarded order is cancelled: reversed, once; the referral may earn again on a later order.
      await transitionOrder(ctx(), o1.id, 'cancelled', { type: 'manager', id: 'm1' });
      await onOrderCancelled(ctx(), o1);
      expect(await balance(ctx(), a, 'EUR')).to.equal(0);
      expect(await balance(ctx(), b, 'points')).to.equal(0);
      expect(
        await LedgerEntryModel.countDocuments({ idempotencyKey: `ref:${referralId}:order:${o1.id}:reverse` }),
      ).to.equal(1);
      const o3 = await order(b);
      await transitionOrder(ctx(), o3.id, 'paid', { type: 'system' });
      expect(await balance(ctx(), a, 'EUR')).to.equal(500);

      // The safety net re-applies everything and changes nothing.
      const before = await LedgerEntryModel.countDocuments({});
      await settleRewards(ctx(), new Date(clock.getTime() - DAY));
      expect(await LedgerEntryModel.countDocuments({})).to.equal(before);

      const mine = await myInvites(ctx(), a);
      expect(mine.friends).to.equal(1);
      expect(mine.converted).to.equal(1);
      expect(mine.units).to.deep.equal([{ unit: 'EUR', earned: 500, spent: 0, adjusted: 0, balance: 500 }]);
    });

    it('an order that was never paid, or a buyer nobody referred, earns nothing', async () => {
      const [a, b, lone] = [psid(), psid(), psid()];
      await arrive(b, await refOf(a));
      const o = await order(b);
      await transitionOrder(ctx(), o.id, 'cancelled', { type: 'system' });
      const l = await order(lone);
      await transitionOrder(ctx(), l.id, 'paid', { type: 'system' });
      expect(await balance(ctx(), a, 'EUR')).to.equal(0);
      expect(await LedgerEntryModel.countDocuments({ psid: lone })).to.equal(0);
    });
  });

  describe('ledger under concurrency', () => {
    it('50 concurrent earns with distinct keys plus their duplicates → exact balance', async () => {
      const a = psid();
      const writes = [];
      for (let i = 0; i < 50; i++) {
        for (let copy = 0; copy < 2; copy++) {
          writes.push(
            appendEntry(ctx(), {
              psid: a,
              kind: 'earn',
              amount: 100 + i,
              unit: 'EUR',
              idempotencyKey: `conc:${a}:${i}`,
              reason: 'test',
            }),
          );
        }
      }
      const results = await Promise.all(writes);
      expect(results.filter((r) => r.created)).to.have.length(50);
      expect(await balance(ctx(), a, 'EUR')).to.equal(50 * 100 + (49 * 50) / 2);
      expect(await LedgerEntryModel.countDocuments({ psid: a })).to.equal(50);
    });

    it('concurrent spends never overdraw; a spend is keyed by its order and given back on cancel', async () => {
      const a = psid();
      await appendEntry(ctx(), {
        psid: a,
        kind: 'adjust',
        amount: 1000,
        unit: 'EUR',
        idempotencyKey: `seed:${a}`,
        reason: 'seed',
      });
      const spends = await Promise.all(
        Array.from({ length: 10 }, (_, i) => spendCredit(ctx(), a, `order-${a}-${i}`, 300, 'EUR')),
      );
      const ok = spends.filter((s) => s.ok).length;
      expect(ok).to.be.at.most(3);
      expect(await balance(ctx(), a, 'EUR'))
        .to.equal(1000 - 300 * ok)
        .and.to.be.at.least(0);
      const again = await spendCredit(ctx(), a, `order-${a}-0`, 300, 'EUR');
      expect(await balance(ctx(), a, 'EUR')).to.equal(1000 - 300 * ok);
      if (spends[0]!.ok) expect(again).to.deep.include({ ok: true, created: false });
      const spent = spends.findIndex((s) => s.ok);
      if (spent >= 0) {
        await onOrderCancelled(ctx(), {
          id: `order-${a}-${spent}`,
          pageId,
          psid: a,
          total: { amount: 0, currency: 'EUR' },
          source: { type: 'cart' },
        });
        expect(await spendableCredit(ctx(), a, 'EUR')).to.equal(1000 - 300 * (ok - 1));
      }
    });
  });
});
