import { expect } from 'chai';
import {
  decrementStock,
  findVariant,
  getProduct,
  listCategories,
  listProducts,
  restoreStock,
  searchProducts,
  upsertProduct,
} from '../../src/app/catalog.js';
import { ProductModel } from '../../src/db/models/product.js';
import { connectShopDb, sampleProduct } from './helpers.js';

describe('shop: catalogue service', function () {
  let db: Awaited<ReturnType<typeof connectShopDb>>;
  const ctx = { pageId: 'page-cat' };

  before(async () => {
    db = await connectShopDb();
    for (let i = 1; i <= 12; i++) await upsertProduct(ctx, sampleProduct(`J${String(i).padStart(2, '0')}`));
    await upsertProduct(
      ctx,
      sampleProduct('T01', {
        category: { slug: 'tshirt', name: { it: 'Magliette', en: 'T-shirts' } },
        title: { it: 'Maglietta Perché Sì', en: 'Why Not Tee' },
        tags: ['cotone'],
      }),
    );
    await upsertProduct(ctx, sampleProduct('X01', { active: false }));
    await upsertProduct({ pageId: 'other-page' }, sampleProduct('Z01'));
  });
  after(async () => db?.stop());

  it('lists categories of active products with counts, per page', async () => {
    const cats = await listCategories(ctx);
    expect(cats).to.deep.equal([
      { slug: 'jeans', name: { it: 'Jeans', en: 'Jeans' }, products: 12 },
      { slug: 'tshirt', name: { it: 'Magliette', en: 'T-shirts' }, products: 1 },
    ]);
  });

  it('pages through a category by SKU cursor', async () => {
    const first = await listProducts(ctx, { category: 'jeans', limit: 9 });
    expect(first.items.map((p) => p.sku)).to.have.length(9);
    expect(first.next).to.equal('J09');
    const second = await listProducts(ctx, { category: 'jeans', after: first.next, limit: 9 });
    expect(second.items.map((p) => p.sku)).to.deep.equal(['J10', 'J11', 'J12']);
    expect(second.next).to.equal(undefined);
  });

  it('searches titles, categories and tags ignoring case and accents; all words must match', async () => {
    expect((await searchProducts(ctx, 'PERCHE', { limit: 10 })).map((p) => p.sku)).to.deep.equal(['T01']);
    expect((await searchProducts(ctx, 'maglietta perché', { limit: 10 })).map((p) => p.sku)).to.deep.equal([
      'T01',
    ]);
    expect((await searchProducts(ctx, 'cerco dei jean slim', { limit: 3 })).map((p) => p.sku)).to.deep.equal([
      'J01',
      'J02',
      'J03',
    ]);
    expect(await searchProducts(ctx, 'maglietta jeans', { limit: 10 })).to.deep.equal([]);
    expect(await searchProducts(ctx, 'lim', { limit: 10 })).to.deep.equal([]); // inside a word: no
    expect(await searchProducts(ctx, '.*', { limit: 10 })).to.deep.equal([]);
    expect((await searchProducts(ctx, 'Z01', { limit: 10 })).length).to.equal(0); // other page
  });

  it('finds a product by SKU and by variant SKU', async () => {
    expect((await getProduct(ctx, 'J01'))?.price).to.deep.equal({ amount: 4990, currency: 'EUR' });
    const found = await findVariant(ctx, 'J01-L');
    expect(found?.product.sku).to.equal('J01');
    expect(found?.variant.priceOverride).to.equal(5490);
    expect(await findVariant(ctx, 'nope')).to.equal(undefined);
  });

  it('upsert is idempotent', async () => {
    expect(await upsertProduct(ctx, sampleProduct('J01'))).to.equal('unchanged');
    expect(await upsertProduct(ctx, sampleProduct('J01', { tags: ['x'] }))).to.equal('updated');
    expect(await upsertProduct(ctx, sampleProduct('J01'))).to.equal('updated');
    expect(await upsertProduct(ctx, sampleProduct('J01'))).to.equal('unchanged');
  });

  it('decrements stock only when enough is left, never below zero, under concurrency', async () => {
    expect(await decrementStock(ctx, 'J02-M', 1)).to.equal(false); // 0 in stock
    expect(await decrementStock(ctx, 'J02-S', 4)).to.equal(false); // 3 in stock
    const results = await Promise.all(Array.from({ length: 20 }, () => decrementStock(ctx, 'J02-S', 1)));
    expect(results.filter(Boolean)).to.have.length(3);
    const doc = await ProductModel.findOne({ pageId: ctx.pageId, sku: 'J02' }).lean();
    expect(doc?.variants.map((v) => v.stock)).to.deep.equal([0, 0, 1]);
    expect(await restoreStock(ctx, 'J02-S', 2)).to.equal(true);
    expect((await findVariant(ctx, 'J02-S'))?.variant.stock).to.equal(2);
    // The other page's product with the same variant SKU is untouched.
    expect((await findVariant({ pageId: 'other-page' }, 'Z01-S'))?.variant.stock).to.equal(3);
  });
});
