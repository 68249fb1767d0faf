import { expect } from 'chai';
import { getProduct, upsertProduct } from '../../src/app/catalog.js';
import {
  confirmCheckout,
  findAbandonedCarts,
  remindAbandonedCart,
  runAbandonedCartReminders,
  startCheckout,
} from '../../src/app/checkout.js';
import { createOrder, formatOrderNumber, transitionOrder, type OrderView } from '../../src/app/orders.js';
import {
  OrderPagePaymentStrategy,
  paymentStrategyFor,
  UrlTemplatePaymentStrategy,
} from '../../src/app/payment-link.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { CartModel } from '../../src/db/models/cart.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OrderModel } from '../../src/db/models/order.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { money } from '../../src/domain/money.js';
import { messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { createJobs } from '../../src/jobs/registry.js';
import type { JobContext } from '../../src/jobs/types.js';
import { silentLogger } from '../../src/log.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import { sampleProduct } from './helpers.js';

interface Sent {
  messagingType?: string;
  tag?: string;
  message: {
    text?: string;
    attachment?: {
      payload: {
        text?: string;
        elements?: { title: string; subtitle?: string; buttons?: { title: string; url?: string }[] }[];
        buttons?: { title: string; url?: string; payload?: string }[];
      };
    };
  };
}
const bodyText = (m: Sent | undefined) => m?.message.text ?? m?.message.attachment?.payload.text ?? '';
const HOUR = 60 * 60 * 1000;

describe('payment links (strategies)', () => {
  const order = { number: 'DL-000042', token: 'tok_EN-x', total: money(12345, 'EUR') };

  it('defaults to the built-in order page', () => {
    const s = paymentStrategyFor({ publicUrl: 'https://bot.example/', paymentUrlTemplate: undefined });
    expect(s).to.be.instanceOf(OrderPagePaymentStrategy);
    expect(s.builtIn).to.equal(true);
    expect(s.linkFor(order)).to.equal('https://bot.example/orders/tok_EN-x');
  });

  it('fills PAYMENT_URL_TEMPLATE, URL-encoding every value', () => {
    const s = paymentStrategyFor({
      publicUrl: 'https://bot.example',
      paymentUrlTemplate:
        'https://shop.example/pay?order={number}&token={token}&amount={amount}&c={currency}',
    });
    expect(s).to.be.instanceOf(UrlTemplatePaymentStrategy);
    expect(s.builtIn).to.equal(false);
    expect(s.linkFor({ ...order, number: 'A&B' })).to.equal(
      'https://shop.example/pay?order=A%26B&token=tok_EN-x&amount=123.45&c=EUR',
    );
  });

  it('refuses a template without {token}/{number} or not http(s), at config load', () => {
    expect(() => new UrlTemplatePaymentStrategy('https://shop.example/pay')).to.throw(/\{token\}/);
    expect(() => loadConfig({ PAYMENT_URL_TEMPLATE: 'https://shop.example/pay' })).to.throw(ConfigError);
    expect(() => loadConfig({ PAYMENT_URL_TEMPLATE: 'ftp://x/{token}' })).to.throw(ConfigError);
    expect(loadConfig({ PAYMENT_URL_TEMPLATE: 'https://x.example/p/{token}' }).paymentUrlTemplate).to.equal(
      'https://x.example/p/{token}',
    );
  });

  it('numbers orders DL-000123', () => {
    expect(formatOrderNumber(123)).to.equal('DL-000123');
    expect(formatOrderNumber(1234567)).to.equal('DL-1234567');
  });
});

describe('orders: lifecycle, notifications and the 24 h window (end to end)', function () {
  this.timeout(60_000);
  let t: TestApp;
  let n = 0;

  before(async () => {
    t = await startTestApp();
    await upsertProduct(
      { pageId: t.pageId },
      sampleProduct('OR1', {
        variants: [
          { sku: 'OR1-S', size: 'S', colour: 'Blu', stock: 100, priceOverride: undefined },
          { sku: 'OR1-L', size: 'L', colour: 'Blu', stock: 1, priceOverride: 5490 },
        ],
      }),
    );
  });
  after(async () => {
    await t?.stop();
  });

  const ctx = () => ({ pageId: t.pageId, now: new Date(), config: t.config });
  const newFan = async () => {
    const psid = `50000000000000${String(++n).padStart(2, '0')}`;
    await t.say(psid, 'ciao');
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 3);
    return psid;
  };
  const lastTo = async (psid: string, before: number) =>
    (await waitFor(() => {
      const m = t.fakeGraph.messagesTo(psid);
      return m.length > before && m[m.length - 1];
    })) as unknown as Sent;

  /** An order made through the real checkout (stock reserved), for `qty` of OR1-S. */
  async function checkout(psid: string, qty = 1): Promise<OrderView> {
    await CartModel.create({
      pageId: t.pageId,
      psid,
      lines: [{ sku: 'OR1-S', productSku: 'OR1', qty, addedAt: new Date() }],
    });
    const s = await startCheckout(ctx(), psid);
    if (!s.ok) throw new Error(s.code);
    const c = await confirmCheckout(ctx(), psid, s.quote.version);
    if (!c.ok) throw new Error(c.code);
    return c.order;
  }

  it('an order update outside the 24 h window goes tagged POST_PURCHASE_UPDATE', async () => {
    const psid = await newFan();
    const order = await checkout(psid);
    const old = new Date(Date.now() - 25 * HOUR);
    await FanModel.updateOne({ pageId: t.pageId, psid }, { $set: { lastInteractionAt: old } });
    t.fakeGraph.noteUserInteraction(t.pageId, psid, old);

    const before = t.fakeGraph.messagesTo(psid).length;
    const r = await transitionOrder(ctx(), order.id, 'paid', { type: 'manager', id: 'm1' });
    expect(r.ok).to.equal(true);
    const receipt = await lastTo(psid, before);
    expect(receipt.messagingType).to.equal('MESSAGE_TAG');
    expect(receipt.tag).to.equal('POST_PURCHASE_UPDATE');
    expect(bodyText(receipt)).to.contain(`Pagamento ricevuto per l'ordine ${order.number}`);
    const record = await OutboxMessageModel.findOne({ idempotencyKey: `order:${order.id}:paid` }).lean();
    expect(record!.purpose).to.equal('order_update');

    const b2 = t.fakeGraph.messagesTo(psid).length;
    await transitionOrder(ctx(), order.id, 'shipped', { type: 'manager', id: 'm1' });
    const shipped = await lastTo(psid, b2);
    expect(bodyText(shipped)).to.contain('è stato spedito');
    expect(shipped.tag).to.equal('POST_PURCHASE_UPDATE');
  });

  it('texts follow the fan’s locale', async () => {
    const psid = await newFan();
    await FanModel.updateOne({ pageId: t.pageId, psid }, { $set: { locale: 'en' } });
    const order = await checkout(psid);
    const before = t.fakeGraph.messagesTo(psid).length;
    await transitionOrder(ctx(), order.id, 'paid', { type: 'system' });
    expect(bodyText(await lastTo(psid, before))).to.contain(`Payment received for order ${order.number}`);
  });

  it('cancelling before shipping gives the stock back (once) and tells the fan; final states refuse moves', async () => {
    const psid = await newFan();
    const stockBefore = (await getProduct({ pageId: t.pageId }, 'OR1'))!.variants[0]!.stock;
    const order = await checkout(psid, 2);
    expect((await getProduct({ pageId: t.pageId }, 'OR1'))!.variants[0]!.stock).to.equal(stockBefore - 2);

    const before = t.fakeGraph.messagesTo(psid).length;
    const r = await transitionOrder(ctx(), order.id, 'cancelled', { type: 'manager', id: 'm1' });
    expect(r.ok).to.equal(true);
    expect(bodyText(await lastTo(psid, before))).to.contain('è stato annullato');
    expect((await getProduct({ pageId: t.pageId }, 'OR1'))!.variants[0]!.stock).to.equal(stockBefore);

    const again = await transitionOrder(ctx(), order.id, 'cancelled', { type: 'manager', id: 'm1' });
    expect(again.ok).to.equal(false);
    if (!again.ok && again.code === 'forbidden_transition') expect(again.allowed).to.deep.equal([]);
    const paid = await transitionOrder(ctx(), order.id, 'paid', { type: 'manager', id: 'm1' });
    expect(paid.ok).to.equal(false);
    expect((await getProduct({ pageId: t.pageId }, 'OR1'))!.variants[0]!.stock).to.equal(stockBefore);
  });

  it('two managers moving the same order at once: exactly one wins, one history entry', async () => {
    const psid = await newFan();
    const order = await checkout(psid);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        transitionOrder(ctx(), order.id, i % 2 ? 'paid' : 'cancelled', { type: 'manager', id: `m${i}` }),
      ),
    );
    expect(results.filter((r) => r.ok)).to.have.length(1);
    const doc = await OrderModel.findById(order.id).lean();
    expect(doc!.history).to.have.length(2);
  });

  it('createOrder is idempotent per key and numbers are unique under concurrency', async () => {
    const line = {
      sku: 'OR1',
      variantSku: 'OR1-S',
      title: { it: 'Jeans', en: 'Jeans' },
      variantLabel: 'S',
      unitPrice: money(1000, 'EUR'),
      qty: 1,
    };
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createOrder(ctx(), {
          psid: '5999',
          lines: [line],
          source: { type: 'groupbuy', campaignId: 'c1' },
          idempotencyKey: `gb:c1:${i % 6}`,
        }),
      ),
    );
    const ids = new Set(made.map((m) => m.order.id));
    expect(ids.size).to.equal(6);
    const numbers = new Set(made.map((m) => m.order.number));
    expect(numbers.size).to.equal(6);
    expect(made.filter((m) => m.created)).to.have.length(6);
    expect(made[0]!.order.source).to.deep.equal({ type: 'groupbuy', campaignId: 'c1' });
  });

  it('"i miei ordini" lists recent orders with their state and a link to each', async () => {
    const psid = await newFan();
    const order = await checkout(psid);
    const before = t.fakeGraph.messagesTo(psid).length;
    await t.say(psid, 'i miei ordini');
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= before + 2);
    const cards = (t.fakeGraph.messagesTo(psid).at(-1) as unknown as Sent).message.attachment!.payload
      .elements!;
    expect(cards[0]!.title).to.equal(`Ordine ${order.number}`);
    expect(cards[0]!.subtitle).to.contain('In attesa di pagamento');
    expect(cards[0]!.buttons![0]!.url).to.contain(`/orders/${order.token}`);

    const b2 = t.fakeGraph.messagesTo(psid).length;
    t.fakeGraph.noteUserInteraction(t.pageId, psid);
    await t.post(
      messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid, payload: 'orders:v1', title: 'x' })),
    );
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= b2 + 2);
  });

  describe('abandoned carts', () => {
    async function fanWithOldCart(windowOpen: boolean) {
      const psid = await newFan();
      await CartModel.create({
        pageId: t.pageId,
        psid,
        lines: [{ sku: 'OR1-L', productSku: 'OR1', qty: 1, addedAt: new Date() }],
      });
      await CartModel.collection.updateOne(
        { pageId: t.pageId, psid, status: 'open' },
        { $set: { updatedAt: new Date(Date.now() - 3 * HOUR) } },
      );
      if (!windowOpen) {
        const old = new Date(Date.now() - 25 * HOUR);
        await FanModel.updateOne({ pageId: t.pageId, psid }, { $set: { lastInteractionAt: old } });
        t.fakeGraph.noteUserInteraction(t.pageId, psid, old);
      }
      return psid;
    }

    it('a fan inside the window gets ONE reminder for a cart untouched for 2 h', async () => {
      const psid = await fanWithOldCart(true);
      const fresh = await newFan();
      await CartModel.create({
        pageId: t.pageId,
        psid: fresh,
        lines: [{ sku: 'OR1-L', productSku: 'OR1', qty: 1, addedAt: new Date() }],
      });
      const found = await findAbandonedCarts(new Date(), { pageId: t.pageId });
      expect(found.map((c) => c.psid))
        .to.include(psid)
        .and.not.include(fresh);

      const before = t.fakeGraph.messagesTo(psid).length;
      const first = await runAbandonedCartReminders(new Date(), { pageId: t.pageId });
      expect(first.reminded).to.be.at.least(1);
      const reminder = await lastTo(psid, before);
      expect(bodyText(reminder)).to.contain('Hai lasciato 1 articolo nel carrello (54,90\u00a0€)');
      expect(reminder.messagingType).to.equal('UPDATE');
      const second = await runAbandonedCartReminders(new Date(), { pageId: t.pageId });
      expect(second.reminded).to.equal(0);
      await new Promise((r) => setTimeout(r, 200));
      expect(t.fakeGraph.messagesTo(psid).length).to.equal(before + 1);
    });

    it('is registered as the abandoned-carts job, which finds and reminds (idempotently)', async () => {
      const job = createJobs().find((j) => j.id === 'abandoned-carts');
      expect(job, 'registered in src/jobs/registry.ts').to.not.equal(undefined);
      const psid = await fanWithOldCart(true);
      const before = t.fakeGraph.messagesTo(psid).length;
      const run = () =>
        job!.run({
          now: new Date(),
          log: silentLogger,
          page: t.config.facebook.page,
        } as unknown as JobContext);
      const first = await run();
      expect(first.summary).to.deep.include({ reminded: 1 });
      await lastTo(psid, before);
      expect((await run()).summary).to.deep.include({ reminded: 0 });
    });

    it('is NOT sent outside the window: not found, and refused by the policy if enqueued anyway', async () => {
      const psid = await fanWithOldCart(false);
      const found = await findAbandonedCarts(new Date(), { pageId: t.pageId });
      expect(found.map((c) => c.psid)).to.not.include(psid);

      const cart = await CartModel.findOne({ pageId: t.pageId, psid, status: 'open' }).lean();
      const before = t.fakeGraph.messagesTo(psid).length;
      const created = await remindAbandonedCart(
        {
          id: String(cart!._id),
          pageId: t.pageId,
          psid,
          version: String(cart!.updatedAt.getTime()),
          locale: 'it',
          units: 1,
          total: money(5490, 'EUR'),
          updatedAt: cart!.updatedAt,
        },
        new Date(),
      );
      expect(created).to.equal(true);
      const key = `cart-reminder:${String(cart!._id)}:${cart!.updatedAt.getTime()}`;
      const record = await waitFor(async () => {
        const r = await OutboxMessageModel.findOne({ pageId: t.pageId, idempotencyKey: key }).lean();
        return r && r.state !== 'pending' ? r : undefined;
      });
      expect(record.state).to.equal('refused');
      expect(record.refusedReason).to.equal('outside_window');
      expect(record.purpose).to.equal('reminder');
      expect(t.fakeGraph.messagesTo(psid).length).to.equal(before);
    });
  });
});
