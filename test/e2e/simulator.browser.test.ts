import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { createSimulatorRouter } from '../../src/dev/simulator/index.js';
import { createStandInBot, type StandInBot } from '../../src/dev/simulator/stand-in-bot.js';
import { silentLogger } from '../../src/log.js';
import { startApp } from '../../src/server.js';

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

async function openPage(browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !isBenign(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

async function selectFan(page: Page, name: string): Promise<void> {
  await page.locator('.fan', { hasText: name }).click();
  await page.locator('.fan[aria-current="true"]', { hasText: name }).waitFor();
}

describe('simulator page in Chromium', function () {
  this.timeout(90_000);
  let browser: Browser;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`skipping browser tests: ${CHROMIUM} is absent (apt-get install -y chromium)`);
      this.skip();
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  describe('with a stand-in bot', () => {
    const config = loadConfig({});
    const fbPage = config.facebook.page;
    const POST_ID = `${fbPage.id}_900000000000002`;
    let fakeGraph: FakeGraph;
    let graphServer: FakeGraphServer;
    let bot: StandInBot;
    let server: Server;
    let url: string;

    before(async function () {
      if (!browser) return this.skip();
      fakeGraph = createFakeGraph({ appSecret: config.facebook.appSecret, pages: [fbPage] });
      graphServer = await fakeGraph.listen();
      bot = createStandInBot({
        appSecret: config.facebook.appSecret,
        graphUrl: graphServer.url,
        pageId: fbPage.id,
        accessToken: fbPage.accessToken,
      });
      const app = express();
      app.use(bot.router);
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      app.use(
        '/simulator',
        createSimulatorRouter({
          config,
          fakeGraph,
          webhookUrl: `${base}/api/messages`,
          log: silentLogger,
          posts: () => [
            {
              id: POST_ID,
              message:
                'Group buy: Jeans 501 — 25 pairs at €59 if we reach 25 by Friday. Comment "M" to join!',
              createdTime: new Date(),
            },
          ],
        }),
      );
      url = `${base}/simulator`;
      await bot.setupProfile();
    });

    after(async () => {
      if (server) await new Promise((r) => server.close(r));
      await graphServer?.close();
    });

    it('chats: text, typing, quick replies, carousel, postbacks, persistent menu; hostile text stays text', async () => {
      const { page, problems } = await openPage(browser, url);
      await page.locator('#page-name', { hasText: fbPage.name }).waitFor();

      // A fan whose name is markup: rendered as text, never executed.
      await page.fill('#fan-first', '<script>window.__xss=1</script>');
      await page.fill('#fan-last', '<img src=x onerror="window.__xss=2">');
      await page.selectOption('#fan-locale', 'en_US');
      await page.click('#add-fan button[type=submit]');
      // Wait for the new fan to be selected (Giulia is selected before it arrives).
      const hostile = page.locator('.fan[aria-current="true"] strong', { hasText: 'window.__xss=1' });
      await hostile.waitFor();
      expect(await hostile.textContent()).to.equal(
        '<script>window.__xss=1</script> <img src=x onerror="window.__xss=2">',
      );

      // New thread: Get Started with the greeting; the composer waits for it.
      await expect(page.locator('#start')).to.exist;
      await page.locator('#start:not([hidden])').waitFor();
      expect(await page.locator('#greeting').textContent()).to.equal(
        'Hi <script>window.__xss=1</script>! Shop and join group buys.',
      );
      await page.click('#get-started');
      await page.locator('.page-row .btn-card', { hasText: 'Postback GET_STARTED' }).waitFor();

      await page.fill('#text', 'Hello <b>bold</b> <img src=x onerror="window.__xss=3"> è 😀');
      await page.press('#text', 'Enter');
      await page.locator('.fan-row .bubble', { hasText: 'Hello <b>bold</b>' }).waitFor();
      await page
        .locator('.page-row .bubble', {
          hasText: 'You said: Hello <b>bold</b> <img src=x onerror="window.__xss=3"> è 😀',
        })
        .waitFor();
      const chips = page.locator('#quick-replies .chip');
      await chips.first().waitFor();
      expect(await chips.allTextContents()).to.deep.equal(['Show products', 'Size M']);

      // Tapping a chip sends its title as the fan's text; the chips go away; the carousel arrives.
      await chips.filter({ hasText: 'Show products' }).click();
      await page.locator('.fan-row .bubble', { hasText: 'Show products' }).waitFor();
      const cards = page.locator('.carousel .card');
      await cards.nth(1).waitFor();
      expect(await cards.count()).to.equal(2);
      expect(await cards.first().locator('.title').textContent()).to.equal('Jeans 501 <b>blue</b>');
      expect(await cards.first().locator('.subtitle').textContent()).to.equal('€79 · 18 of 25 joined');
      expect(await page.locator('#quick-replies .chip').count()).to.equal(0);
      await page.screenshot({ path: join(ARTIFACTS, 'simulator-chat.png') });

      // A postback button in a card.
      await cards.first().locator('button', { hasText: 'Join group buy' }).click();
      await page.locator('.fan-row .bubble.postback', { hasText: 'Join group buy' }).waitFor();
      await page.locator('.btn-card', { hasText: 'Postback gb.join:v1:501' }).waitFor();

      // Persistent menu from the messenger_profile call.
      await page.click('#menu-btn');
      await page.locator('#menu button', { hasText: 'Shop' }).click();
      await page.locator('.btn-card', { hasText: 'Postback MENU_SHOP' }).waitFor();

      // m.me link on an existing thread → referral event.
      await page.click('#mme summary');
      await page.fill('#ref', 'gb_42');
      await page.click('#ref-form button');
      await page.locator('.page-row .bubble', { hasText: 'Welcome back via gb_42' }).waitFor();

      expect(await page.evaluate('window.__xss')).to.equal(undefined);
      expect(await page.locator('#thread script, #fans script, #thread img[src="x"]').count()).to.equal(0);
      await page.screenshot({ path: join(ARTIFACTS, 'simulator-chat-2.png'), fullPage: true });
      expect(problems).to.deep.equal([]);

      // What the browser did went through real signed webhooks.
      expect(bot.received.length).to.be.greaterThanOrEqual(6);
      expect(bot.received.every((r) => r.signatureValid)).to.equal(true);
      await page.context().close();
    });

    it('comments on a Page post as a fan; sees the public reply and the private reply in chat', async () => {
      const { page, problems } = await openPage(browser, url);
      await selectFan(page, 'Marco Bianchi');
      await page.click('#tab-posts');
      const post = page.locator(`.post[data-post="${POST_ID}"]`);
      await post.waitFor();
      await post.locator('.post-form input').last().fill('M per favore <3');
      await post.locator('.post-form button', { hasText: 'Comment' }).click();
      const comment = post.locator('.comment', { hasText: 'M per favore <3' });
      await comment.waitFor();
      expect(await comment.locator('.c-name').textContent()).to.equal('Marco Bianchi');
      await post.locator('.page-comment', { hasText: 'We sent you a message 📩' }).waitFor();
      const privately = post.locator('button', { hasText: 'Page replied privately' });
      await privately.waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'simulator-posts.png'), fullPage: true });

      // Reply to the comment as another fan.
      await selectFan(page, 'Emma Walker');
      await post
        .locator('.comment', { hasText: 'M per favore' })
        .locator('button', { hasText: 'Reply' })
        .first()
        .click();
      const replyInput = post.locator('.nested .post-form input');
      await replyInput.fill('Same here');
      await post.locator('.nested .post-form button').click();
      await post.locator('.nested .comment', { hasText: 'Same here' }).waitFor();

      // The private reply lives in Marco's chat.
      await post
        .locator('.comment', { hasText: 'M per favore' })
        .locator('button', { hasText: 'Page replied privately' })
        .click();
      await page.locator('#chat:not([hidden])').waitFor();
      await page.locator('.fan[aria-current="true"]', { hasText: 'Marco' }).waitFor();
      await page.locator('.page-row', { hasText: 'Private reply to your comment' }).waitFor();
      await page.locator('.page-row .bubble', { hasText: 'Thanks for your comment!' }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'simulator-private-reply.png') });
      expect(problems).to.deep.equal([]);
      await page.context().close();
    });

    it('shows an error when the bot refuses the webhook POST', async () => {
      const app = express();
      app.use(
        '/simulator',
        createSimulatorRouter({
          config: { facebook: { ...config.facebook, appSecret: 'not-the-app-secret' } },
          fakeGraph,
          webhookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`,
          log: silentLogger,
          posts: () => [],
        }),
      );
      const s = await new Promise<Server>((resolve) => {
        const x = app.listen(0, '127.0.0.1', () => resolve(x));
      });
      try {
        const { page } = await openPage(
          browser,
          `http://127.0.0.1:${(s.address() as AddressInfo).port}/simulator/`,
        );
        await selectFan(page, 'Liam Carter');
        await page.click('#get-started');
        await page.locator('#toast:not([hidden])', { hasText: 'HTTP 403' }).waitFor();
        await page.locator('.fan-row .caption.error', { hasText: '403' }).waitFor();
        await page.context().close();
      } finally {
        await new Promise((r) => s.close(r));
      }
    });
  });

  describe('with the real bot server', () => {
    let app: { url: string; stop(): Promise<void> } | undefined;
    let dataDir: string;

    before(async function () {
      if (!browser) return this.skip();
      dataDir = mkdtempSync(join(tmpdir(), 'sim-browser-'));
      const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
      app = await startApp({ config, log: silentLogger });
    });

    after(async () => {
      await app?.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('Get Started → the bot answers; a quick reply gets an answer too', async () => {
      const { page, problems } = await openPage(browser, `${app!.url}/simulator`);
      await selectFan(page, 'Emma Walker');
      await page.locator('#start:not([hidden])').waitFor();
      await page.click('#get-started');
      await page.locator('.page-row').first().waitFor({ timeout: 20_000 });
      const chips = page.locator('#quick-replies .chip');
      await chips.first().waitFor({ timeout: 20_000 });
      const before = await page.locator('.page-row').count();
      const title = (await chips.first().textContent())!;
      await chips.first().click();
      await page.locator('.fan-row .bubble', { hasText: title }).waitFor();
      await page.locator('.page-row').nth(before).waitFor({ timeout: 20_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'simulator-real-bot.png') });
      expect(await page.locator('.fan-row .caption.error').count()).to.equal(0);
      expect(problems).to.deep.equal([]);
      await page.context().close();
    });
  });
});
