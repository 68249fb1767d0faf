import { expect } from 'chai';
import { addToCart, emptyCart, removeLine, setLineQuantity, viewCart } from '../../src/app/cart.js';
import { upsertProduct } from '../../src/app/catalog.js';
import { CartModel } from '../../src/db/models/cart.js';
import { connectShopDb, sampleProduct } from './helpers.js';

describe('shop: cart service', function () {
  let db: Awaited<ReturnType<typeof connectShopDb>>;
  const ctx = { pageId: 'page-cart', psid: 'fan-1', now: new Date('2025-05-01T10:00:00Z') };

  before(async () => {
    db = await connectShopDb();
    await upsertProduct(ctx, sampleProduct('C1'));
  });
  after(async () => db?.stop());

  it('adds lines, merges quantities, checks stock and totals in integer cents', async () => {
    expect(await addToCart(ctx, 'C1-S', 1)).to.deep.equal({ ok: true, qty: 1 });
    expect(await addToCart(ctx, 'C1-S', 2)).to.deep.equal({ ok: true, qty: 3 });
    expect(await addToCart(ctx, 'C1-S', 1)).to.deep.equal({ ok: false, code: 'out_of_stock', available: 3 });
    expect(await addToCart(ctx, 'C1-M', 1)).to.deep.equal({ ok: false, code: 'out_of_stock', available: 0 });
    expect(await addToCart(ctx, 'nope', 1)).to.deep.equal({ ok: false, code: 'not_found' });
    expect(await addToCart(ctx, 'C1-L', 1)).to.deep.equal({ ok: true, qty: 1 });
    const view = await viewCart(ctx);
    expect(view.lines.map((l) => [l.sku, l.qty, l.lineTotal?.amount])).to.deep.equal([
      ['C1-S', 3, 14970],
      ['C1-L', 1, 5490],
    ]);
    expect(view.total).to.deep.equal({ amount: 20460, currency: 'EUR' });
    expect(view.units).to.equal(4);
  });

  it('changes a quantity, removes a line, empties; one open cart per fan', async () => {
    expect(await setLineQuantity(ctx, 'C1-S', 2)).to.deep.equal({ ok: true, qty: 2 });
    expect(await setLineQuantity(ctx, 'C1-S', 11)).to.deep.equal({ ok: false, code: 'too_many', max: 10 });
    await removeLine(ctx, 'C1-L');
    expect((await viewCart(ctx)).total.amount).to.equal(9980);
    await emptyCart(ctx);
    expect((await viewCart(ctx)).lines).to.deep.equal([]);
    await Promise.all([addToCart(ctx, 'C1-S', 1), addToCart(ctx, 'C1-L', 1), addToCart(ctx, 'C1-S', 1)]);
    expect(await CartModel.countDocuments({ pageId: ctx.pageId, psid: ctx.psid, status: 'open' })).to.equal(
      1,
    );
    const other = await viewCart({ ...ctx, psid: 'fan-2' });
    expect(other.lines).to.deep.equal([]);
  });
});
