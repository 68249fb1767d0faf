import { expect } from 'chai';
import { upsertProduct, getProduct } from '../../src/app/catalog.js';
import { confirmCheckout, startCheckout } from '../../src/app/checkout.js';
import { appendEntry } from '../../src/app/ledger.js';
import { CartModel } from '../../src/db/models/cart.js';
import { OrderModel } from '../../src/db/models/order.js';
import { ProductModel } from '../../src/db/models/product.js';
import { messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import { sampleProduct } from './helpers.js';

interface Button {
  type: string;
  title: string;
  payload?: string;
  url?: string;
}
interface Sent {
  messagingType?: string;
  tag?: string;
  message: {
    text?: string;
    quick_replies?: { title: string; payload: string }[];
    attachment?: {
      type: string;
      payload: {
        template_type?: string;
        text?: string;
        elements?: { title: string; subtitle?: string; buttons?: Button[] }[];
        buttons?: Button[];
      };
    };
  };
}

const bodyText = (m: Sent | undefined) => m?.message.text ?? m?.message.attachment?.payload.text ?? '';
const buttons = (m: Sent | undefined) => m?.message.attachment?.payload.buttons ?? [];

describe('shop: checkout through the webhook (end to end)', function () {
  this.timeout(60_000);
  let t: TestApp;
  let n = 0;

  before(async () => {
    t = await startTestApp();
    await upsertProduct({ pageId: t.pageId }, sampleProduct('CK1'));
    await upsertProduct({ pageId: t.pageId }, sampleProduct('CK2'));
  });
  after(async () => {
    await t?.stop();
  });

  const exchange = (psid: string, act: () => Promise<unknown>, count = 1) =>
    t.exchange<Sent>(psid, act, count);
  const post = (psid: string, payload: string) => {
    t.fakeGraph.noteUserInteraction(t.pageId, psid);
    return t.post(messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid, payload, title: 'b' })));
  };
  const tap = (psid: string, payload: string, count = 1) => exchange(psid, () => post(psid, payload), count);
  const newFan = async (text = 'ciao') => {
    const psid = `40000000000000${String(++n).padStart(2, '0')}`;
    await exchange(psid, () => t.say(psid, text), 3);
    return psid;
  };
  const confirmPayload = (m: Sent | undefined) => {
    const p = buttons(m).find((b) => b.payload?.startsWith('checkout.confirm:v1:'))?.payload;
    if (!p) throw new Error(`no Confirm button in ${JSON.stringify(m)}`);
    return p;
  };

  it('cart → Checkout → Confirm → order with a Pay button → order page → pay → receipt', async () => {
    const psid = await newFan();
    await tap(psid, 'shop.qty:v1:CK1-S:2');
    await tap(psid, 'shop.qty:v1:CK1-L:1');

    const [prompt] = await tap(psid, 'checkout:v1');
    expect(bodyText(prompt)).to.contain('Ecco il tuo ordine:');
    expect(bodyText(prompt)).to.contain('2 × Jeans CK1 Slim Blu (S · Blu) — 99,80\u00a0€');
    expect(bodyText(prompt)).to.contain('Totale: 154,70\u00a0€');
    expect(buttons(prompt).map((b) => b.title)).to.deep.equal(['Conferma', 'Indietro']);
    expect(buttons(prompt)[1]!.payload).to.equal('cart:v1');

    const [created] = await tap(psid, confirmPayload(prompt));
    const order = await OrderModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(order).to.not.equal(null);
    expect(order!.number).to.match(/^DL-\d{6}$/);
    expect(order!.state).to.equal('pending_payment');
    expect(order!.totals).to.deep.include({ total: 15470, currency: 'EUR', units: 3 });
    expect(order!.token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(bodyText(created)).to.contain(order!.number).and.to.contain('154,70\u00a0€');
    const pay = buttons(created).find((b) => b.type === 'web_url');
    expect(pay?.title).to.equal('Paga');
    expect(pay?.url).to.equal(`${t.config.publicUrl.replace(':0', `:${t.app.port}`)}/orders/${order!.token}`);

    // Stock was taken, the cart is closed.
    const product = await getProduct({ pageId: t.pageId }, 'CK1');
    expect(product!.variants.map((v) => v.stock)).to.deep.equal([1, 0, 0]);
    expect(await CartModel.countDocuments({ pageId: t.pageId, psid, status: 'open' })).to.equal(0);

    // Tapping Confirm again (a retried or repeated turn) gives the same order, not a second one.
    const [again] = await tap(psid, confirmPayload(prompt));
    expect(bodyText(again)).to.contain(order!.number);
    expect(await OrderModel.countDocuments({ pageId: t.pageId, psid })).to.equal(1);

    // The order page, in the fan's language, every value escaped.
    const path = new URL(pay!.url!).pathname;
    const page = await fetch(`${t.app.url}${path}`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('cache-control')).to.equal('no-store');
    expect(page.headers.get('referrer-policy')).to.equal('no-referrer');
    const html = await page.text();
    expect(html).to.contain(order!.number).and.to.contain('154,70').and.to.contain('In attesa di pagamento');
    expect(html).to.contain('Segna come pagato (demo)');
    const english = await (await fetch(`${t.app.url}${path}?lang=en`)).text();
    expect(english).to.contain('Awaiting payment');

    // Demo payment: redirect back, the order is paid, the fan gets the receipt.
    const before = t.fakeGraph.messagesTo(psid).length;
    const paid = await fetch(`${t.app.url}${path}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).to.equal(303);
    expect(paid.headers.get('location')).to.equal(`${path}?paid=1`);
    const receipt = (await waitFor(() => {
      const m = t.fakeGraph.messagesTo(psid);
      return m.length > before && m[m.length - 1];
    })) as unknown as Sent;
    expect(bodyText(receipt)).to.contain('Totale: 154,70\u00a0€');
    expect(receipt.messagingType).to.equal('UPDATE');
    expect(buttons(receipt)[0]!.url).to.contain(`/orders/${order!.token}`);
    const after = await OrderModel.findById(order!._id).lean();
    expect(after!.state).to.equal('paid');
    expect(after!.history.map((h) => [h.from, h.to, h.by.type])).to.deep.equal([
      [null, 'pending_payment', 'fan'],
      ['pending_payment', 'paid', 'fan'],
    ]);
    const html2 = await (await fetch(`${t.app.url}${path}?paid=1`)).text();
    expect(html2).to.contain('Pagato').and.to.not.contain('Segna come pagato');

    // Paying twice changes nothing and sends nothing more.
    const count = t.fakeGraph.messagesTo(psid).length;
    expect((await fetch(`${t.app.url}${path}/pay`, { method: 'POST', redirect: 'manual' })).status).to.equal(
      303,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(t.fakeGraph.messagesTo(psid).length).to.equal(count);
  });

  it('an unknown order token is a 404 page (and so is a malformed one)', async () => {
    for (const token of ['A'.repeat(43), 'nope', '<script>']) {
      const res = await fetch(`${t.app.url}/orders/${encodeURIComponent(token)}`);
      expect(res.status).to.equal(404);
      const html = await res.text();
      expect(html).to.contain('Ordine non trovato').and.to.not.contain('<script>');
      const pay = await fetch(`${t.app.url}/orders/${encodeURIComponent(token)}/pay`, { method: 'POST' });
      expect(pay.status).to.equal(404);
    }
  });

  it('a price changed after the summary is shown before anything is ordered; the new total is confirmed', async () => {
    const psid = await newFan();
    await tap(psid, 'shop.qty:v1:CK2-S:1');
    const [prompt] = await tap(psid, 'checkout:v1');
    expect(bodyText(prompt)).to.contain('Totale: 49,90\u00a0€');

    await ProductModel.updateOne({ pageId: t.pageId, sku: 'CK2' }, { $set: { 'price.amount': 5990 } });
    const [changes, prompt2] = await tap(psid, confirmPayload(prompt), 2);
    expect(bodyText(changes)).to.contain('Nel frattempo è cambiato qualcosa:');
    expect(bodyText(changes)).to.contain('Jeans CK2 Slim Blu (S · Blu): 49,90\u00a0€ → 59,90\u00a0€');
    expect(bodyText(prompt2)).to.contain('Totale: 59,90\u00a0€');
    expect(await OrderModel.countDocuments({ pageId: t.pageId, psid })).to.equal(0);

    // The old Confirm is stale for good; the new one orders at the new price.
    const [created] = await tap(psid, confirmPayload(prompt2));
    expect(bodyText(created)).to.contain('59,90\u00a0€');
    const order = await OrderModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(order!.totals!.total).to.equal(5990);
    expect(order!.lines[0]!.unitPrice).to.equal(5990);

    // Checkout again with a changed price (new cart): the change is shown at the summary too.
    await tap(psid, 'shop.qty:v1:CK2-S:1');
    await tap(psid, 'checkout:v1');
    await ProductModel.updateOne({ pageId: t.pageId, sku: 'CK2' }, { $set: { 'price.amount': 4490 } });
    const [changed, summary] = await tap(psid, 'checkout:v1', 2);
    expect(bodyText(changed)).to.contain('59,90\u00a0€ → 44,90\u00a0€');
    expect(bodyText(summary)).to.contain('Totale: 44,90\u00a0€');
  });

  it('invite credit that covers the whole order: no Pay button, the order is paid, one answer says so', async () => {
    const psid = await newFan();
    await appendEntry(
      { pageId: t.pageId, now: new Date() },
      {
        psid,
        kind: 'earn',
        amount: 50_000,
        unit: 'EUR',
        idempotencyKey: `test:credit:${psid}`,
        reason: 'test',
      },
    );
    await tap(psid, 'shop.qty:v1:CK2-S:1');
    const [prompt] = await tap(psid, 'checkout:v1');
    const sent = await tap(psid, confirmPayload(prompt));
    expect(sent).to.have.length(1); // one answer: confirmed and paid, not a separate receipt
    const [confirmed] = sent;
    const order = await OrderModel.findOne({ pageId: t.pageId, psid }).lean();
    expect(order!.state).to.equal('paid');
    expect(order!.totals!.total).to.equal(0);
    expect(bodyText(confirmed)).to.contain(order!.number).and.to.contain('niente da pagare');
    expect(buttons(confirmed).some((b) => b.type === 'web_url')).to.equal(false);
  });

  it('two fans with the last unit confirm at the same time: one order, the other hears "sold out", stock never < 0', async () => {
    await upsertProduct(
      { pageId: t.pageId },
      sampleProduct('LAST', {
        variants: [{ sku: 'LAST-U', size: 'U', colour: 'Blu', stock: 1, priceOverride: undefined }],
      }),
    );
    const a = await newFan();
    const b = await newFan();
    await tap(a, 'shop.qty:v1:LAST-U:1');
    await tap(b, 'shop.qty:v1:LAST-U:1');
    const [pa] = await tap(a, 'checkout:v1');
    const [pb] = await tap(b, 'checkout:v1');

    const beforeA = t.fakeGraph.messagesTo(a).length;
    const beforeB = t.fakeGraph.messagesTo(b).length;
    await Promise.all([post(a, confirmPayload(pa)), post(b, confirmPayload(pb))]);
    await waitFor(
      () => t.fakeGraph.messagesTo(a).length > beforeA && t.fakeGraph.messagesTo(b).length > beforeB,
    );
    const replies = [a, b].map((p) => bodyText(t.fakeGraph.messagesTo(p).at(-1) as unknown as Sent));
    const won = replies.filter((r) => r.includes('confermato'));
    const lost = replies.filter((r) => r.includes('è appena andato esaurito'));
    expect({ won: won.length, lost: lost.length }).to.deep.equal({ won: 1, lost: 1 });
    expect(await OrderModel.countDocuments({ pageId: t.pageId, 'lines.variantSku': 'LAST-U' })).to.equal(1);
    expect((await getProduct({ pageId: t.pageId }, 'LAST'))!.variants[0]!.stock).to.equal(0);
  });

  it('many rounds of simultaneous confirms at the service level: exactly one order per last unit', async () => {
    const ctx = { pageId: t.pageId, now: new Date(), config: t.config };
    for (let round = 0; round < 8; round++) {
      const sku = `RACE${round}`;
      await upsertProduct(
        { pageId: t.pageId },
        sampleProduct(sku, {
          variants: [
            { sku: `${sku}-A`, size: 'A', colour: 'Blu', stock: 2, priceOverride: undefined },
            { sku: `${sku}-B`, size: 'B', colour: 'Blu', stock: 1, priceOverride: undefined },
          ],
        }),
      );
      const fans = [`9${round}01`, `9${round}02`, `9${round}03`];
      for (const psid of fans) {
        await CartModel.create({
          pageId: t.pageId,
          psid,
          lines: [
            { sku: `${sku}-A`, productSku: sku, qty: 1, addedAt: new Date() },
            { sku: `${sku}-B`, productSku: sku, qty: 1, addedAt: new Date() },
          ],
        });
      }
      const versions = await Promise.all(
        fans.map(async (psid) => {
          const s = await startCheckout(ctx, psid);
          if (!s.ok) throw new Error(`start failed: ${s.code}`);
          return s.quote.version;
        }),
      );
      const results = await Promise.all(fans.map((psid, i) => confirmCheckout(ctx, psid, versions[i]!)));
      const ok = results.filter((r) => r.ok);
      const soldOut = results.filter((r) => !r.ok && r.code === 'sold_out');
      expect({ ok: ok.length, soldOut: soldOut.length }).to.deep.equal({ ok: 1, soldOut: 2 });
      const product = await getProduct({ pageId: t.pageId }, sku);
      // A: 2 − 1 (the losers' reservations of A were given back); B: 1 − 1.
      expect(product!.variants.map((v) => v.stock)).to.deep.equal([1, 0]);
    }
  });
});
