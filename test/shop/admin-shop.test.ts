import { expect } from 'chai';
import { getProduct, upsertProduct } from '../../src/app/catalog.js';
import { createOrder } from '../../src/app/orders.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { CartModel } from '../../src/db/models/cart.js';
import { CounterModel } from '../../src/db/models/counter.js';
import { FanModel } from '../../src/db/models/fan.js';
import { CheckoutQuoteModel, OrderModel } from '../../src/db/models/order.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { ProductModel } from '../../src/db/models/product.js';
import { money } from '../../src/domain/money.js';
import { errorCode, startHarness, type Harness } from '../admin/harness.js';
import { sampleProduct } from './helpers.js';

/** The shop's admin endpoints: products and orders, roles, validation, conflicts and the audit log. */

async function lastAudit(action: string) {
  return AuditEntryModel.findOne({ action }).sort({ at: -1, _id: -1 }).lean();
}

describe('admin API: products and orders', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;

  before(async () => {
    h = await startHarness();
    await Promise.all(
      [ProductModel, OrderModel, CheckoutQuoteModel, CounterModel, CartModel].map((m) => m.createIndexes()),
    );
    viewer = await h.makeToken('viewer');
    manager = await h.makeToken('manager', 'shop-bot');
    for (let i = 1; i <= 5; i++) await upsertProduct({ pageId: h.pageId }, sampleProduct(`AP${i}`));
    await upsertProduct({ pageId: '999' }, sampleProduct('OTHERPAGE'));
  });
  after(async () => h?.close());

  describe('products', () => {
    it('needs credentials (401) and the manager role to change anything (403)', async () => {
      expect((await h.request('get', '/products')).status).to.equal(401);
      const res = await h.request('patch', '/products/AP1', { token: viewer, body: { active: false } });
      expect(res.status).to.equal(403);
      expect(errorCode(res)).to.equal('forbidden');
      const imp = await h.request('post', '/products/import', {
        token: viewer,
        body: { format: 'json', content: '[]' },
      });
      expect(imp.status).to.equal(403);
    });

    it('lists page-scoped products with a cursor', async () => {
      const first = await h.request('get', '/products?limit=2', { token: viewer });
      expect(first.status).to.equal(200);
      expect(first.body.items).to.have.length(2);
      const seen = first.body.items.map((p: { sku: string }) => p.sku);
      let cursor = first.body.nextCursor as string | null;
      while (cursor) {
        const next = await h.request('get', `/products?limit=2&cursor=${cursor}`, { token: viewer });
        seen.push(...next.body.items.map((p: { sku: string }) => p.sku));
        cursor = next.body.nextCursor;
      }
      expect(seen.sort()).to.deep.equal(['AP1', 'AP2', 'AP3', 'AP4', 'AP5']);
      const bad = await h.request('get', '/products?cursor=nope', { token: viewer });
      expect(bad.status).to.equal(400);
      const one = await h.request('get', '/products/AP1', { token: viewer });
      expect(one.body.variants[2]).to.deep.equal({
        sku: 'AP1-L',
        size: 'L',
        colour: 'Blu',
        stock: 1,
        priceOverride: 5490,
      });
      expect((await h.request('get', '/products/OTHERPAGE', { token: viewer })).status).to.equal(404);
    });

    it('updates price, stock per variant and active; audited with before/after', async () => {
      const res = await h.request('patch', '/products/AP2', {
        token: manager,
        body: {
          price: { amount: 5990 },
          active: false,
          variants: [
            { sku: 'AP2-M', stock: 7 },
            { sku: 'AP2-L', priceOverride: null },
          ],
        },
      });
      expect(res.status).to.equal(200);
      expect(res.body.price).to.deep.equal({ amount: 5990, currency: 'EUR' });
      expect(res.body.active).to.equal(false);
      expect(res.body.variants.map((v: { stock: number }) => v.stock)).to.deep.equal([3, 7, 1]);
      expect(res.body.variants[2].priceOverride).to.equal(null);
      const audit = await lastAudit('product.update');
      expect(audit!.target).to.deep.include({ type: 'product', id: 'AP2' });
      expect(audit!.actor).to.deep.include({ kind: 'token', label: 'shop-bot' });
      expect((audit!.before as { price: number }).price).to.equal(4990);
      expect((audit!.after as { price: number }).price).to.equal(5990);
    });

    it('refuses bad input with 400 (unknown variant, negative stock, float cents, empty change)', async () => {
      for (const body of [
        { variants: [{ sku: 'NOPE', stock: 1 }] },
        { variants: [{ sku: 'AP3-S', stock: -1 }] },
        { price: { amount: 49.9 } },
        {},
        { active: 'yes' },
        { price: { amount: 100, currency: 'USD' } },
      ]) {
        const res = await h.request('patch', '/products/AP3', { token: manager, body });
        expect(res.status, JSON.stringify(body)).to.equal(400);
      }
      expect((await getProduct({ pageId: h.pageId }, 'AP3'))!.variants[0]!.stock).to.equal(3);
    });

    it('creates a product (201, audited); the same SKU again is a 409', async () => {
      const body = {
        sku: 'NEW1',
        category: { slug: 'giacche', name: { it: 'Giacche', en: 'Jackets' } },
        title: { it: 'Giacca <b>denim</b>', en: 'Denim jacket' },
        price: { amount: 12900, currency: 'EUR' },
        variants: [{ sku: 'NEW1-M', size: 'M', stock: 4 }],
      };
      const res = await h.request('post', '/products', { token: manager, body });
      expect(res.status).to.equal(201);
      expect(res.body.title.it).to.equal('Giacca <b>denim</b>');
      expect((await lastAudit('product.create'))!.target).to.deep.include({ id: 'NEW1' });
      const again = await h.request('post', '/products', { token: manager, body });
      expect(again.status).to.equal(409);
      expect(errorCode(again)).to.equal('product_exists');
      const stolen = await h.request('post', '/products', {
        token: manager,
        body: { ...body, sku: 'NEW2', variants: [{ sku: 'AP1-S', stock: 1 }] },
      });
      expect(stolen.status).to.equal(409);
      expect(errorCode(stolen)).to.equal('variant_taken');
    });

    it('imports a file as text with the per-line report; audited; idempotent', async () => {
      const csv = [
        'sku,variant_sku,category,title_it,price,stock,size',
        'IMP1,IMP1-S,jeans,Jeans importati,49.90,3,S',
        'IMP1,IMP1-M,jeans,Jeans importati,49.90,2,M',
        'IMP2,IMP2-S,jeans,Senza prezzo,,3,S',
      ].join('\n');
      const res = await h.request('post', '/products/import', {
        token: manager,
        body: { format: 'csv', content: csv },
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.include({ dryRun: false, created: 1, updated: 0, rejected: 1 });
      expect(res.body.issues[0]).to.deep.include({ line: 4, sku: 'IMP2' });
      const audit = await lastAudit('products.import');
      expect(audit!.after).to.deep.include({ format: 'csv', created: 1, rejected: 1 });
      const twice = await h.request('post', '/products/import', {
        token: manager,
        body: { format: 'csv', content: csv },
      });
      expect(twice.body).to.deep.include({ created: 0, unchanged: 1 });
      const bad = await h.request('post', '/products/import', {
        token: manager,
        body: { format: 'xml', content: csv },
      });
      expect(bad.status).to.equal(400);
    });
  });

  describe('orders', () => {
    let orderId: string;

    before(async () => {
      await FanModel.create({
        pageId: h.pageId,
        psid: '7001',
        locale: 'en',
        firstInteractionAt: new Date(),
        lastInteractionAt: new Date(),
      });
      const ctx = { pageId: h.pageId, now: new Date(), config: h.config };
      const line = {
        sku: 'AP4',
        variantSku: 'AP4-S',
        title: { it: 'Jeans', en: 'Jeans' },
        variantLabel: 'S · Blu',
        unitPrice: money(4990, 'EUR'),
        qty: 2,
      };
      const made = await createOrder(ctx, {
        psid: '7001',
        lines: [line],
        source: { type: 'cart', cartId: 'c1' },
        idempotencyKey: 'k1',
        stockReserved: true,
      });
      orderId = made.order.id;
      for (let i = 2; i <= 4; i++) {
        await createOrder(ctx, {
          psid: '7001',
          lines: [line],
          source: { type: 'cart', cartId: `c${i}` },
          idempotencyKey: `k${i}`,
        });
      }
    });

    it('lists by state with a cursor, and gets one (401 without credentials)', async () => {
      expect((await h.request('get', '/orders')).status).to.equal(401);
      const page = await h.request('get', '/orders?state=pending_payment&limit=3', { token: viewer });
      expect(page.status).to.equal(200);
      expect(page.body.items).to.have.length(3);
      const rest = await h.request(
        'get',
        `/orders?state=pending_payment&limit=3&cursor=${page.body.nextCursor}`,
        {
          token: viewer,
        },
      );
      expect(rest.body.items).to.have.length(1);
      expect(rest.body.nextCursor).to.equal(null);
      expect((await h.request('get', '/orders?state=shipped', { token: viewer })).body.items).to.have.length(
        0,
      );
      expect((await h.request('get', '/orders?state=lost', { token: viewer })).status).to.equal(400);
      const one = await h.request('get', `/orders/${orderId}`, { token: viewer });
      expect(one.body).to.deep.include({ state: 'pending_payment', units: 2, stockReserved: true });
      expect(one.body.total).to.deep.equal({ amount: 9980, currency: 'EUR' });
      expect(one.body).to.not.have.property('token');
      expect((await h.request('get', '/orders/0123456789abcdef01234567', { token: viewer })).status).to.equal(
        404,
      );
    });

    it('transitions through transitionOrder: 403 for a viewer, 400 for a bad state, 409 when forbidden', async () => {
      const asViewer = await h.request('post', `/orders/${orderId}/transition`, {
        token: viewer,
        body: { to: 'paid' },
      });
      expect(asViewer.status).to.equal(403);
      const bad = await h.request('post', `/orders/${orderId}/transition`, {
        token: manager,
        body: { to: 'pending_payment' },
      });
      expect(bad.status).to.equal(400);
      const early = await h.request('post', `/orders/${orderId}/transition`, {
        token: manager,
        body: { to: 'shipped' },
      });
      expect(early.status).to.equal(409);
      expect(errorCode(early)).to.equal('forbidden_transition');
      expect(early.body.error.details).to.deep.equal({
        from: 'pending_payment',
        to: 'shipped',
        allowed: ['paid', 'cancelled'],
      });

      const paid = await h.request('post', `/orders/${orderId}/transition`, {
        token: manager,
        body: { to: 'paid' },
      });
      expect(paid.status).to.equal(200);
      expect(paid.body.state).to.equal('paid');
      expect(paid.body.history.at(-1)).to.deep.include({ from: 'pending_payment', to: 'paid' });
      expect(paid.body.history.at(-1).by).to.deep.include({ type: 'token', label: 'shop-bot' });
      const audit = await lastAudit('order.transition');
      expect(audit!.before).to.deep.include({ state: 'pending_payment' });
      expect(audit!.after).to.deep.equal({ state: 'paid' });
      // The fan is told, in English, through the outbox.
      const note = await OutboxMessageModel.findOne({ idempotencyKey: `order:${orderId}:paid` }).lean();
      expect(note!.purpose).to.equal('order_update');
      expect(note!.body).to.contain('Payment received');

      const twice = await h.request('post', `/orders/${orderId}/transition`, {
        token: manager,
        body: { to: 'paid' },
      });
      expect(twice.status).to.equal(409);
    });

    it('cancelling a paid order gives its reserved stock back', async () => {
      await ProductModel.updateOne(
        { pageId: h.pageId, sku: 'AP4' },
        { $set: { 'variants.$[v].stock': 0 } },
        { arrayFilters: [{ 'v.sku': 'AP4-S' }] },
      );
      const res = await h.request('post', `/orders/${orderId}/transition`, {
        token: manager,
        body: { to: 'cancelled' },
      });
      expect(res.status).to.equal(200);
      expect(res.body.stockReleasedAt).to.be.a('string');
      expect((await getProduct({ pageId: h.pageId }, 'AP4'))!.variants[0]!.stock).to.equal(2);
    });
  });
});
