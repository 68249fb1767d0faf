import { existsSync, mkdirSync } from 'node:fs';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { hashPassword } from '../../src/admin/auth/passwords.js';
import { ManagerModel, type ManagerRole } from '../../src/db/models/manager.js';
import { startTestApp, type TestApp } from '../support/app.js';

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

/** Console errors that are expected offline (demo images point nowhere). */
const isBenign = (text: string) => /Failed to load resource/.test(text);

describe('dashboard proposals and reviews screens in Chromium (simulator mode, demo data)', function () {
  this.timeout(180_000);
  let browser: Browser;
  let t: TestApp;
  let owner: { email: string; password: string };
  let viewer: { email: string; password: string };
  const problems: string[] = [];

  async function makeManager(role: ManagerRole) {
    const email = `${role}@proposals.example`;
    const password = `pw-${role}-long-enough`;
    const passwordHash = await hashPassword(password, { N: 1024, r: 8, p: 1 });
    await ManagerModel.create({ pageId: t.pageId, email, role, passwordHash });
    return { email, password };
  }

  async function open(lang: 'it' | 'en' = 'it'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: lang });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
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

  it('an owner sees the demo proposal with its true tallies, its charts and the close button', async () => {
    const page = await open();
    await login(page, owner);
    expect(await page.locator('#nav a').allTextContents()).to.include.members(['Proposte', 'Recensioni']);
    await page.click('#nav a:has-text("Proposte")');
    const card = page.locator('article.proposal[data-proposal="GIUBBOTTO"]');
    await card.waitFor();
    expect(await card.locator('h3').textContent()).to.contain('Che colore per il nuovo giubbotto?');
    expect(await card.getAttribute('data-state')).to.equal('voting');
    const tallies = await card
      .locator('tr.tally')
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent?.trim())),
      );
    expect(tallies).to.deep.equal([
      ['Blu', '2'],
      ['Nero', '1'],
      ['Verde', '1'],
    ]);
    // The bar chart (tallies) and the line chart (votes over time) are drawn by chart.js.
    await page.waitForFunction(`(() => {
      const canvases = [...document.querySelectorAll('article.proposal canvas')].slice(0, 2);
      return !!window.Chart && canvases.length === 2 && canvases.every((c) => window.Chart.getChart(c));
    })()`);
    // Votes by language (demo voters have no fan record: "unknown").
    await card.locator('.by-locale table').waitFor();
    expect(await card.locator('.by-locale').textContent()).to.contain('unknown');
    expect(await card.locator('button[data-action="close"]').isEnabled()).to.equal(true);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-proposals.png`, fullPage: true });

    await page.click('#nav a:has-text("Recensioni")');
    await page.locator('[data-screen="reviews"] table.data').waitFor();
    await page.context().close();
  });

  it('a viewer sees the proposal but no enabled publish/close button', async () => {
    const page = await open('en');
    await login(page, viewer);
    await page.goto(`${t.app.url}/dashboard/#/proposals`);
    const card = page.locator('article.proposal[data-proposal="GIUBBOTTO"]');
    await card.waitFor();
    expect(await card.locator('h3').textContent()).to.contain('Which colour for the new jacket?');
    const buttons = page.locator(
      'button[data-action="publish"], button[data-action="close"], button:has-text("Publish"), button:has-text("Close the vote")',
    );
    const enabled = await buttons.evaluateAll(
      (bs) =>
        bs.filter(
          (b) =>
            !(b as unknown as { disabled: boolean; hidden: boolean }).disabled &&
            !(b as unknown as { hidden: boolean }).hidden,
        ).length,
    );
    expect(enabled).to.equal(0);
    await page.context().close();
  });
});
