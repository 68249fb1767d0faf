import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { getProduct } from '../../src/app/catalog.js';
import { importCatalog, type ImportIssue } from '../../src/app/catalog-import.js';
import { countProducts } from '../../src/app/catalog.js';
import { loadDemoDataIfEmpty } from '../../src/app/demo-data.js';
import { ProductModel } from '../../src/db/models/product.js';
import { connectShopDb } from './helpers.js';

function reasonsByLine(issues: readonly ImportIssue[]): Map<number, string> {
  const map = new Map<number, string>();
  for (const i of issues) map.set(i.line, [map.get(i.line), ...i.reasons].filter(Boolean).join(' | '));
  return map;
}

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('shop: catalogue import', function () {
  let db: Awaited<ReturnType<typeof connectShopDb>>;
  before(async () => {
    db = await connectShopDb();
  });
  after(async () => db?.stop());

  it('imports the good products of a CSV with bad lines, reporting each bad line and why', async () => {
    const ctx = { pageId: 'imp-csv' };
    const report = await importCatalog(ctx, createReadStream(fixture('catalog-with-errors.csv')), {
      format: 'csv',
    });
    const byLine = reasonsByLine(report.issues);
    expect(byLine.get(5)).to.match(/price: "quaranta" is not a price/);
    expect(byLine.get(4 + 3)).to.match(/stock: must be a whole number/); // B2-S on line 7
    expect(byLine.get(11))
      .to.match(/currency/)
      .and.match(/image_url/);
    expect(byLine.get(12)).to.match(/has 14 fields but the header has 13/);
    expect(byLine.get(13)).to.match(/sku/);
    expect(byLine.get(15)).to.match(/title_it differs from line 14/);
    expect([...byLine.keys()]).to.not.include(9); // the multi-line title is fine
    expect(report).to.include({ created: 3, updated: 0, unchanged: 0 });
    // B1, B2, B3, B4, B5 rejected as products + the SKU-less line
    expect(report.rejected).to.equal(6);

    const j1 = await getProduct(ctx, 'J1');
    expect(j1?.price).to.deep.equal({ amount: 4990, currency: 'EUR' });
    expect(j1?.variants.map((v) => [v.sku, v.size, v.stock])).to.deep.equal([
      ['J1-S', 'S', 5],
      ['J1-M', 'M', 2],
    ]);
    expect(j1?.tags).to.deep.equal(['denim', 'slim']);
    expect(j1?.category).to.deep.equal({ slug: 'jeans', name: { it: 'Jeans', en: 'Jeans' } });
    expect((await getProduct(ctx, 'K1'))?.title.it).to.equal('Giacca\nsu due righe');
    for (const sku of ['B1', 'B2', 'B3', 'B4', 'B5'])
      expect(await getProduct(ctx, sku), sku).to.equal(undefined);

    const again = await importCatalog(ctx, createReadStream(fixture('catalog-with-errors.csv')), {
      format: 'csv',
    });
    expect(again).to.include({ created: 0, updated: 0, unchanged: 3, rejected: 6 });
    expect(await countProducts(ctx)).to.equal(3);
  });

  it('dry run writes nothing', async () => {
    const ctx = { pageId: 'imp-dry' };
    const report = await importCatalog(ctx, createReadStream(fixture('catalog-with-errors.csv')), {
      format: 'csv',
      dryRun: true,
    });
    expect(report, JSON.stringify(report)).to.include({ created: 3, dryRun: true });
    expect(await countProducts(ctx)).to.equal(0);
  });

  it('refuses a CSV without the required columns at line 1', async () => {
    const report = await importCatalog({ pageId: 'imp-hdr' }, ['sku,title\nA,B\n'], { format: 'csv' });
    expect(report.issues[0]).to.deep.include({ line: 1 });
    expect(report.issues[0]!.reasons.join()).to.match(
      /missing column\(s\): category, title_it, price, stock/,
    );
    expect(report.created).to.equal(0);
  });

  it('imports JSON element by element, with the line each bad element starts on', async () => {
    const ctx = { pageId: 'imp-json' };
    const json = `[
  {"sku": "A1", "category": {"slug": "jeans", "name": {"it": "Jeans", "en": "Jeans"}},
   "title": {"it": "Jeans A", "en": "Jeans A"}, "price": {"amount": 4990, "currency": "EUR"},
   "variants": [{"sku": "A1-S", "size": "S", "stock": 2}]},
  {"sku": "A2", "category": "Jeans", "title": "Jeans B", "price": "39,90",
   "variants": [{"sku": "A2-S", "stock": 1.5}]},
  {"sku": "A3", "category": "Jeans", "title": "Jeans C", "price": "39,90", "variants": [{"sku": "A1-S", "stock": 1}]},
  {"sku": "A4", oops},
  {"sku": "A5", "category": "Giacche", "title": {"it": "Giacca \\"Bomber\\" {x}"}, "price": "99",
   "variants": [{"sku": "A5-M", "stock": 1}]}
]`;
    const report = await importCatalog(ctx, [json.slice(0, 100), json.slice(100)], { format: 'json' });
    const byLine = reasonsByLine(report.issues);
    expect(byLine.get(5)).to.match(/variants\.0\.stock: must be a whole number/);
    expect(byLine.get(7)).to.match(/A1-S already belongs to product A1/);
    expect(byLine.get(8)).to.match(/invalid JSON/);
    expect(report).to.include({ created: 2, rejected: 3 });
    expect((await getProduct(ctx, 'A5'))?.title).to.deep.equal({ it: 'Giacca "Bomber" {x}', en: '' });
    expect((await getProduct(ctx, 'A5'))?.price.amount).to.equal(9900);
  });

  it('streams a large CSV (2,000 rows) without aborting, idempotently', async function () {
    this.timeout(120_000);
    const ctx = { pageId: 'imp-big' };
    const rows = 1000;
    async function* big(): AsyncGenerator<string> {
      yield 'sku,variant_sku,category,title_it,price,size,stock\n';
      for (let i = 0; i < rows; i++) {
        const bad = i % 500 === 7;
        yield `P${i},P${i}-S,Jeans,Jeans ${i},${bad ? 'x' : '10.00'},S,${i % 5}\nP${i},P${i}-M,Jeans,,,M,1\n`;
      }
    }
    let progressCalls = 0;
    const report = await importCatalog(ctx, big(), { format: 'csv', onProgress: () => progressCalls++ });
    expect(report).to.include({ created: rows - 2, rejected: 2 });
    expect(progressCalls).to.be.greaterThan(0);
    expect(await ProductModel.countDocuments({ pageId: ctx.pageId })).to.equal(rows - 2);
  });

  it('loads the demo catalogue only into an empty page', async () => {
    const first = await loadDemoDataIfEmpty('imp-demo');
    expect(first.loaded).to.equal(true);
    const n = await countProducts({ pageId: 'imp-demo' });
    expect(n).to.be.within(10, 20);
    expect(first.report?.rejected).to.equal(0);
    const second = await loadDemoDataIfEmpty('imp-demo');
    expect(second.loaded).to.equal(false);
    expect(await countProducts({ pageId: 'imp-demo' })).to.equal(n);
  });
});
