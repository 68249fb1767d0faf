import { existsSync, mkdirSync } from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { hashPassword } from '../../src/admin/auth/passwords.js';
import { FanModel } from '../../src/db/models/fan.js';
import { ManagerModel, type ManagerRole } from '../../src/db/models/manager.js';
import { OrderModel } from '../../src/db/models/order.js';
import { ProductModel } from '../../src/db/models/product.js';
import { messagingBody, postbackEvent } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>';

/** Console errors that are expected offline (demo images point nowhere). */
const isBenign = (text: string) => /Failed to load resource/.test(text);

describe('dashboard in Chromium (whole bot, simulator mode)', function () {
  this.timeout(180_000);
  let browser: Browser;
  let t: TestApp;
  let owner: { email: string; password: string };
  let viewer: { email: string; password: string };
  let campaignId = '';
  const problems: string[] = [];

  async function makeManager(role: ManagerRole) {
    const email = `${role}@dashboard.example`;
    const password = `pw-${role}-long-enough`;
    // Cheap scrypt parameters keep the test fast; verification reads them from the hash.
    const passwordHash = await hashPassword(password, { N: 1024, r: 8, p: 1 });
    await ManagerModel.create({ pageId: t.pageId, email, role, passwordHash });
    return { email, password };
  }

  async function open(lang: 'it' | 'en' = 'it'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: lang });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // A CSP violation is reported here as an error ("Refused to …").
      if (m.type() === 'error' && !isBenign(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('dialog', (d) => void d.accept());
    return page;
  }

  async function login(page: Page, who: { email: string; password: string }): Promise<void> {
    await page.goto(`${t.app.url}/dashboard/`);
    await page.locator('#login-form').waitFor();
    await page.fill('#login-email', who.email);
    await page.fill('#login-password', who.password);
    await page.click('#login-submit');
    await page.locator('#nav a').first().waitFor();
  }

  async function joinThroughWebhook(psid: string, variantSku: string, qty: number) {
    t.fakeGraph.noteUserInteraction(t.pageId, psid);
    const payload = `gb.qty:v1:${campaignId}:${variantSku}:${qty}`;
    const res = await t.post(
      messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid, payload, title: '2' })),
    );
    expect(res.status).to.equal(200);
  }

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`skipping browser tests: ${CHROMIUM} is absent (apt-get install -y chromium)`);
      this.skip();
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    t = await startTestApp();
    owner = await makeManager('owner');
    viewer = await makeManager('viewer');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  afterEach(function () {
    const seen = problems.splice(0);
    if (this.currentTest?.state === 'passed')
      expect(seen, 'console errors / CSP violations').to.deep.equal([]);
  });

  it('the root redirects to the simulator in simulator mode; the dashboard refuses a wrong password', async () => {
    const root = await fetch(`${t.app.url}/`, { redirect: 'manual' });
    expect(root.headers.get('location')).to.equal('/simulator');
    const page = await open();
    await page.goto(`${t.app.url}/dashboard`);
    expect(page.url()).to.equal(`${t.app.url}/dashboard/`);
    await page.fill('#login-email', owner.email);
    await page.fill('#login-password', 'wrong password');
    await page.click('#login-submit');
    await page.locator('.login .status[data-kind="error"]').waitFor();
    expect(await page.locator('#nav').isHidden()).to.equal(true);
    await page.context().close();
  });

  it('an owner signs in through the form and sees the overview (inbox, parked, outbox, page token)', async () => {
    const page = await open();
    await login(page, owner);
    await page.locator('#card-parked .figure').waitFor();
    expect(await page.locator('#card-status .figure').textContent()).to.be.oneOf([
      'Tutto bene',
      'Da controllare',
    ]);
    expect(await page.locator('#card-parked .figure').textContent()).to.equal('0');
    expect(await page.locator('#card-inbox .figure').textContent()).to.match(/^\d+$/);
    expect(await page.locator('#card-outbox-pending .figure').textContent()).to.match(/^\d+$/);
    expect(await page.locator('#card-token').textContent()).to.contain('Token');
    // The demo group buys are open: their progress shows on the overview.
    await page.locator('#overview-campaigns progress').first().waitFor();
    expect(await page.locator('#nav a').allTextContents()).to.include.members([
      'Panoramica',
      'Acquisti di gruppo',
      'Messaggi',
      'Catalogo',
      'Ordini',
      'Fan',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-overview.png`, fullPage: true });

    // Language switch.
    await page.selectOption('#lang', 'en');
    await page.locator('#nav a', { hasText: 'Overview' }).waitFor();
    expect(await page.locator('#card-parked').textContent()).to.contain('Failed events');
    await page.selectOption('#lang', 'it');
    await page.locator('#nav a', { hasText: 'Panoramica' }).waitFor();
    await page.context().close();
  });

  it('creates a group buy through the form, opens it, and watches its progress bar move as pledges arrive by webhook', async () => {
    const product = (await ProductModel.findOne({
      pageId: t.pageId,
      active: true,
      'variants.stock': { $gte: 10 },
    }).lean()) as { sku: string; variants: { sku: string; stock: number }[] } | null;
    expect(product, 'a demo product with stock').to.not.equal(null);
    const variant = product!.variants.find((v) => v.stock >= 10)!;

    const page = await open();
    await login(page, owner);
    await page.click('#nav a[href="#/campaigns"]');
    await page.locator('#campaign-list table').waitFor();
    await page.click('summary:has-text("Nuovo acquisto di gruppo")');
    await page.fill('#cc-slug', 'DASH3');
    await page.locator(`#cc-product option[value="${product!.sku}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#cc-product', product!.sku);
    await page.selectOption('#cc-variant', variant.sku);
    await page.fill('#cc-minQuantity', '3');
    await page.fill('#cc-maxQuantity', '10');
    await page.fill('#cc-tierPrice0', '30,00');
    await page.fill('#cc-tierFrom1', '5');
    await page.fill('#cc-tierPrice1', '25,00');
    await page.fill('#cc-titleIt', 'Prova dashboard');
    await page.fill('#cc-titleEn', 'Dashboard test');
    await page.click('#cc-submit');
    await page.waitForURL(/#\/campaigns\/[0-9a-f]{24}$/);
    campaignId = page.url().split('/').pop()!;
    await page.locator('h1 .pill[data-state="draft"]').waitFor();
    await page.click('button:has-text("Apri")');
    await page.locator('h1 .pill[data-state="open"]').waitFor();
    const bar = page.locator(`.progress[data-campaign="${campaignId}"]`);
    expect(await bar.getAttribute('data-committed')).to.equal('0');
    expect(await page.locator('.countdown').first().textContent()).to.match(/^\d+ g \d\d:\d\d:\d\d$/);

    // Fans join in Messenger: the page polls and the bar moves.
    await joinThroughWebhook('4200000000000001', variant.sku, 1);
    await page
      .locator(`.progress[data-campaign="${campaignId}"][data-committed="1"]`)
      .waitFor({ timeout: 15_000 });
    expect(
      await bar.locator('progress').evaluate((p) => {
        const el = p as unknown as { value: number; max: number };
        return [el.value, el.max];
      }),
    ).to.deep.equal([1, 3]);
    await joinThroughWebhook('4200000000000002', variant.sku, 2);
    await page
      .locator(`.progress[data-campaign="${campaignId}"][data-committed="3"]`)
      .waitFor({ timeout: 15_000 });
    await page.locator('h1 .pill[data-state="tipped"]').waitFor({ timeout: 15_000 });
    await page.locator('#campaign-pledges tbody tr', { hasText: '4200000000000002' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-campaign.png`, fullPage: true });

    // Link a Page post and see it listed.
    await page.fill('#link-post-id', `${t.pageId}_777000000000001`);
    await page.click('button:has-text("Collega post")');
    await page.locator('#campaign-posts li', { hasText: `${t.pageId}_777000000000001` }).waitFor();
    await page.context().close();
  });

  it('moves an order of the tipped group buy to paid, and the funnel counts it', async () => {
    await waitFor(
      async () => (await OrderModel.countDocuments({ 'source.campaignId': campaignId })) >= 2,
      15_000,
    );
    const order = (await OrderModel.findOne({
      'source.campaignId': campaignId,
      psid: '4200000000000001',
    }).lean()) as {
      number: string;
    } | null;
    const page = await open();
    await login(page, owner);
    await page.click('#nav a[href="#/orders"]');
    const row = page.locator('#order-list tbody tr', { hasText: order!.number });
    await row.waitFor();
    await row.locator('select').selectOption('paid');
    await row.locator('button').click();
    await page
      .locator('#order-list tbody tr', { hasText: order!.number })
      .locator('.pill[data-state="paid"]')
      .waitFor();
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-orders.png`, fullPage: true });
    await page.goto(`${t.app.url}/dashboard/#/campaigns/${campaignId}`);
    const paidRow = page.locator('#funnel-table tr', { hasText: 'Pagati' });
    await paidRow.waitFor();
    expect((await paidRow.locator('td').last().textContent())?.trim()).to.equal('1');
    expect(
      (
        await page.locator('#funnel-table tr', { hasText: 'Adesioni' }).locator('td').last().textContent()
      )?.trim(),
    ).to.equal('2');
    await page.context().close();
  });

  it('builds a segment, sees its reach by policy as a chart, sends a broadcast and sees its stats', async () => {
    const page = await open();
    await login(page, owner);
    await page.click('#nav a[href="#/broadcasts"]');
    await page.locator('#segment-builder').waitFor();
    await page.selectOption('#seg-rule-type', 'lastInteraction');
    await page.click('#seg-add-rule');
    await page.click('#seg-preview');
    await page.locator('#reach-size .figure').waitFor();
    // chart.js was loaded on demand and drew the reach doughnut.
    await page.waitForFunction(() => {
      // No DOM lib in this project's TypeScript: the page's globals, typed by hand.
      const g = globalThis as unknown as {
        Chart?: { getChart(canvas: unknown): unknown };
        document: { querySelector(selector: string): unknown };
      };
      return !!g.Chart?.getChart(g.document.querySelector('#reach canvas'));
    });
    expect(Number(await page.locator('#reach-size .figure').textContent())).to.be.greaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-reach.png`, fullPage: true });

    await page.fill('#bc-name', 'Saldi di prova');
    await page.fill('#bc-text-it', 'Ciao! Oggi saldi sui jeans.');
    await page.selectOption('#bc-when', 'now');
    await page.click('#bc-submit');
    await page.waitForURL(/#\/broadcasts\/[0-9a-f]{24}$/);
    await waitFor(async () => Number(await page.locator('#bc-sent .figure').textContent()) >= 1, 30_000);
    await page.locator('[data-screen="broadcasts"][data-done="true"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('h1 .pill').getAttribute('data-state')).to.equal('completed');
    expect(Number(await page.locator('#bc-targeted .figure').textContent())).to.be.greaterThanOrEqual(2);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-broadcast.png`, fullPage: true });
    await page.context().close();
  });

  it('imports a catalogue file with a per-line report; a product and a fan named <script> render as text', async () => {
    await FanModel.updateOne(
      { pageId: t.pageId, psid: '4200000000000001' },
      { $set: { firstName: HOSTILE, lastName: '' } },
    );
    const csv = [
      'sku,variant_sku,category,title_it,price,stock,size',
      `XSS1,XSS1-S,jeans,"${HOSTILE}",19.90,3,S`,
      'BAD1,BAD1-S,jeans,Senza prezzo,,3,S',
    ].join('\n');
    const page = await open();
    await login(page, owner);
    await page.click('#nav a[href="#/catalogue"]');
    await page.setInputFiles('#import-file', {
      name: 'catalogo.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csv),
    });
    await page.click('#import-submit');
    await page.locator('#import-report table tbody tr').first().waitFor();
    expect(await page.locator('#import-report .import-summary').textContent()).to.contain('Creati 1');
    const issue = page.locator('#import-report tbody tr').first();
    expect(await issue.locator('td').first().textContent()).to.equal('3');
    expect(await issue.textContent()).to.contain('BAD1');
    const title = page.locator('#product-list .product-title', { hasText: '<script>' });
    await title.waitFor();
    expect(await title.textContent()).to.equal(HOSTILE);
    expect(await title.locator('script, img').count()).to.equal(0);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-catalogue.png`, fullPage: true });

    await page.click('#nav a[href="#/fans"]');
    await page.fill('#fan-q', '4200000000000001');
    await page.click('#fan-list ~ * button, form.inline button[type="submit"]');
    const name = page.locator('#fan-list .fan-name', { hasText: '<script>' });
    await name.waitFor();
    expect(await name.textContent()).to.equal(HOSTILE);
    // Tag the fan (a write path through the API with the CSRF header).
    const row = page.locator('#fan-list tbody tr').first();
    await row.locator('.tag-input').fill('vip');
    await row.locator('button[title="Aggiungi etichetta"]').click();
    await row.locator('.tag', { hasText: 'vip' }).waitFor();
    expect(await page.evaluate('window.__pwned')).to.equal(undefined);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-fans.png`, fullPage: true });
    expect((await FanModel.findOne({ pageId: t.pageId, psid: '4200000000000001' }).lean())?.tags).to.include(
      'vip',
    );
    await page.context().close();
  });

  it('a viewer sees every screen and no enabled write control; the API refuses them anyway', async () => {
    const page = await open('en');
    await login(page, viewer);
    expect(await page.locator('#who').textContent()).to.contain('read only');
    for (const screen of [
      'overview',
      'campaigns',
      `campaigns/${campaignId}`,
      'referrals',
      'broadcasts',
      'catalogue',
      'orders',
      'fans',
      'inbox',
    ]) {
      await page.goto(`${t.app.url}/dashboard/#/${screen}`);
      await page.locator(`[data-screen="${screen.split('/')[0]}"] h1`).waitFor();
      await page.waitForLoadState('networkidle');
      const enabled = await page.locator('[data-write]:enabled, [data-write] :enabled').count();
      expect(enabled, `${screen}: enabled write controls`).to.equal(0);
      const visibleForms = await page.locator('form[data-write]:visible').count();
      expect(visibleForms, `${screen}: visible write forms`).to.equal(0);
      if (screen === 'orders')
        await page.screenshot({ path: `${ARTIFACTS}/dashboard-viewer.png`, fullPage: true });
    }
    const refused = await page.evaluate(async () => {
      const me = (await (await fetch('/admin/api/me')).json()) as { csrfToken: string };
      const res = await fetch('/admin/api/fans/4200000000000001/tags', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ tag: 'nope' }),
      });
      return res.status;
    });
    expect(refused).to.equal(403);
    await page.context().close();
  });

  it('signs out: the session is gone and the sign-in form is back', async () => {
    const page = await open();
    await login(page, owner);
    await page.click('#logout');
    await page.locator('#login-form').waitFor();
    const status = await page.evaluate(async () => (await fetch('/admin/api/me')).status);
    expect(status).to.equal(401);
    await page.reload();
    await page.locator('#login-form').waitFor();
    await page.context().close();
  });
});
