import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { applyCredit, confirmCheckout, startCheckout } from '../../src/app/checkout.js';
import { appendEntry, balance, refundSpend, spendKey } from '../../src/app/ledger.js';
import { getOrder, transitionOrder, type OrdersContext, type OrderView } from '../../src/app/orders.js';
import { loadConfig } from '../../src/config/index.js';
import { CartModel } from '../../src/db/models/cart.js';
import { LedgerEntryModel } from '../../src/db/models/ledger-entry.js';
import { OrderModel } from '../../src/db/models/order.js';
import { money } from '../../src/domain/money.js';
import { renderOrderPage } from '../../src/shop/order-page.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

/** Issue #8: invite credit is spent at checkout (and given back when the order is cancelled). */

const config = loadConfig({ PAYMENT_URL_TEMPLATE: 'https://shop.example/pay?t={token}&amount={amount}' });
const pageId = config.facebook.page.id;
const ctx = (): OrdersContext => ({ pageId, now: new Date(), config });
let n = 0;
const newPsid = () => `C${String(++n).padStart(6, '0')}`;

async function giveCredit(psid: string, amount: number): Promise<void> {
  await appendEntry(ctx(), {
    psid,
    kind: 'earn',
    amount,
    unit: 'EUR',
    idempotencyKey: `test:credit:${psid}:${++n}`,
    reason: 'test',
  });
}

/** A cart of one CC1-S (89,90 €) through the real two-step checkout; returns the quote version too. */
async function checkout(psid: string): Promise<{ order: OrderView; version: string }> {
  await CartModel.create({
    pageId,
    psid,
    lines: [{ sku: 'CC1-S', productSku: 'CC1', qty: 1, addedAt: new Date() }],
  });
  const s = await startCheckout(ctx(), psid);
  if (!s.ok) throw new Error(s.code);
  expect(s.quote.total.amount).to.equal(8990);
  const c = await confirmCheckout(ctx(), psid, s.quote.version);
  if (!c.ok) throw new Error(c.code);
  return { order: c.order, version: s.quote.version };
}

const eur = (psid: string) => balance({ pageId }, psid, 'EUR');

describe('referrals: spending invite credit at checkout (embedded MongoDB)', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;

  before(async () => {
    db = await connectShopDb();
    await upsertProduct(
      { pageId },
      sampleProduct('CC1', {
        price: money(8990, 'EUR'),
        variants: [{ sku: 'CC1-S', size: 'S', colour: 'Blu', stock: 100, priceOverride: undefined }],
      }),
    );
  });
  after(async () => db?.stop());

  it('500 cents of credit on an 8990-cent cart: total 8490, balance 0, a retried confirm spends nothing more', async () => {
    const psid = newPsid();
    await giveCredit(psid, 500);
    const { order, version } = await checkout(psid);
    expect(order.subtotal).to.deep.equal(money(8990, 'EUR'));
    expect(order.discount).to.deep.equal({ amount: money(500, 'EUR'), reason: 'referral_credit' });
    expect(order.total).to.deep.equal(money(8490, 'EUR'));
    expect(order.payment.url).to.contain('amount=84.90');
    expect(await eur(psid)).to.equal(0);

    const stored = await OrderModel.findById(order.id).lean();
    expect(stored?.totals).to.include({ subtotal: 8990, total: 8490, currency: 'EUR' });
    expect(stored?.discount).to.deep.equal({ amount: 500, currency: 'EUR', reason: 'referral_credit' });

    // More credit arrives, then the same confirm is retried: same order, nothing more spent.
    await giveCredit(psid, 300);
    const again = await confirmCheckout(ctx(), psid, version);
    expect(again.ok && again.created).to.equal(false);
    expect(again.ok && again.order.id).to.equal(order.id);
    expect(again.ok && again.order.total.amount).to.equal(8490);
    expect(await eur(psid)).to.equal(300);
    expect(await LedgerEntryModel.countDocuments({ pageId, psid, kind: 'spend' })).to.equal(1);

    // The order page shows the credit line and the new total.
    const en = renderOrderPage(order, 'en', { canPayHere: false, justPaid: false });
    expect(en).to.contain('Invite credit').and.contain('−€5.00').and.contain('€84.90').and.contain('€89.90');
    const it = renderOrderPage(order, 'it', { canPayHere: false, justPaid: false });
    expect(it).to.contain('Credito inviti').and.contain('−5,00\u00a0€').and.contain('84,90\u00a0€');
  });

  it('credit larger than the total: total 0, the order is paid at once, and the rest stays', async () => {
    const psid = newPsid();
    await giveCredit(psid, 10_000);
    const { order, version } = await checkout(psid);
    expect(order.total.amount).to.equal(0);
    expect(order.discount?.amount.amount).to.equal(8990);
    expect(order.subtotal.amount).to.equal(8990);
    expect(order.state).to.equal('paid');
    const stored = await OrderModel.findById(order.id).lean();
    expect(stored?.history?.at(-1)).to.deep.include({ from: 'pending_payment', to: 'paid' });
    expect(stored?.history?.at(-1)?.by).to.deep.include({ type: 'system', label: 'invite_credit' });
    expect(await eur(psid)).to.equal(10_000 - 8990);
    // A retried confirm changes nothing.
    const again = await confirmCheckout(ctx(), psid, version);
    expect(again.ok && again.order.state).to.equal('paid');
    expect(await eur(psid)).to.equal(10_000 - 8990);
  });

  it('a confirm retried after a crash between the discount and the payment settles the order', async () => {
    const psid = newPsid();
    await giveCredit(psid, 10_000);
    const { order, version } = await checkout(psid);
    // The crash: the discount is stored, the transition to paid never happened.
    await OrderModel.updateOne(
      { _id: order.id },
      { $set: { state: 'pending_payment' }, $pop: { history: 1 } },
    );
    const again = await confirmCheckout(ctx(), psid, version);
    expect(again.ok && again.order.state).to.equal('paid');
    expect(await eur(psid)).to.equal(10_000 - 8990);
  });

  it('cancelling the order gives the credit back, once', async () => {
    const psid = newPsid();
    await giveCredit(psid, 500);
    const { order } = await checkout(psid);
    expect(await eur(psid)).to.equal(0);
    const cancelled = await transitionOrder(ctx(), order.id, 'cancelled', { type: 'manager', id: 'm1' });
    expect(cancelled.ok).to.equal(true);
    expect(await eur(psid)).to.equal(500);
    // Settling again (or a retried cancel path) does not give it twice.
    expect(await refundSpend(ctx(), order.id)).to.equal(false);
    expect(await eur(psid)).to.equal(500);
  });

  it('no credit: the order is unchanged', async () => {
    const psid = newPsid();
    const { order } = await checkout(psid);
    expect(order.discount).to.equal(undefined);
    expect(order.total.amount).to.equal(8990);
    expect(order.subtotal.amount).to.equal(8990);
    expect(order.payment.url).to.contain('amount=89.90');
    const stored = await OrderModel.findById(order.id).lean();
    expect(stored).to.not.have.property('discount');
    expect(await LedgerEntryModel.countDocuments({ pageId, psid })).to.equal(0);
  });

  it('an order no longer pending when the credit lands keeps its total and the credit goes back', async () => {
    const psid = newPsid();
    const { order } = await checkout(psid); // no credit yet: nothing taken off
    await transitionOrder(ctx(), order.id, 'cancelled', { type: 'manager', id: 'm1' });
    await giveCredit(psid, 500);
    const pending = { ...order }; // a stale view, as a racing confirm would hold
    const after = await applyCredit(ctx(), pending);
    expect(after.state).to.equal('cancelled');
    expect(after.discount).to.equal(undefined);
    expect((await getOrder(ctx(), order.id))?.total.amount).to.equal(8990);
    expect(await eur(psid)).to.equal(500);
    expect(await LedgerEntryModel.countDocuments({ idempotencyKey: spendKey(pageId, order.id) })).to.equal(1);
  });
});
