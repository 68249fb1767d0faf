/**
 * Fan-controlled strings (profile names, message and comment texts, m.me refs) are data everywhere
 * (issue #11): they never become a query operator, never forge or break a log line, and come out
 * escaped on every page that shows them (order page, privacy status page) or as JSON the dashboard and
 * simulator render as text (their client code has no innerHTML: src/dashboard/public/dom.js refuses
 * it, the simulator builds text nodes).
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import { createApiToken } from '../../src/admin/auth/tokens.js';
import { createOrder } from '../../src/app/orders.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { FanModel } from '../../src/db/models/fan.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { ReferralCodeModel } from '../../src/db/models/referral-code.js';
import { ReferralModel } from '../../src/db/models/referral.js';
import {
  changesBody,
  commentChange,
  messageEvent,
  messagingBody,
  postSignedWebhook,
  referralEvent,
} from '../../src/dev/webhook-payloads.js';
import type { FakeGraph } from '../../src/dev/fake-graph/index.js';
import { money } from '../../src/domain/money.js';
import { startApp, type RunningApp } from '../../src/server.js';
import { startTestMongo, type TestMongo } from '../db/helpers.js';
import { waitFor } from '../support/app.js';

const XSS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '</textarea></title><script>alert(2)</script>',
];
/** What must never appear raw in HTML: each would start markup of the fan's choosing. */
const RAW_MARKERS = ['<script>alert', '<img src=x', '<svg/onload', '</textarea>'];
const FORGED_LOG = '\n{"level":60,"msg":"forged by a fan","pwned":true}\n';

describe('fan input is data: queries, logs and pages (injection)', function () {
  this.timeout(60_000);
  let mongo: TestMongo;
  let app: RunningApp;
  let config: Config;
  let fakeGraph: FakeGraph;
  let pageId: string;
  const logLines: string[] = [];

  const post = (body: Parameters<typeof postSignedWebhook>[1]) =>
    postSignedWebhook(`${app.url}/api/messages`, body, config.facebook.appSecret);
  const settle = () =>
    waitFor(async () => (await InboxEventModel.countDocuments({ state: 'pending' })) === 0, 20_000);

  before(async () => {
    mongo = await startTestMongo();
    config = loadConfig({ PORT: '0', MONGODB_URI: mongo.uri, LOG_LEVEL: 'debug' });
    // Every log line the app writes, as bytes, to check each one is exactly one JSON object.
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    app = await startApp({
      config,
      log: pino({ level: 'debug' }, sink),
      processor: { pollMs: 50 },
      sender: { pollMs: 50 },
    });
    fakeGraph = app.fakeGraph!;
    pageId = config.facebook.page.id;
  });
  after(async () => {
    await app?.stop();
    await mongo?.stop();
  });

  it('hostile names, texts and comments are stored as the exact strings sent', async () => {
    for (const [i, name] of XSS.entries()) {
      const psid = `340000000000000${i}`;
      fakeGraph.addUser({ psid, firstName: name, lastName: `${name}${FORGED_LOG}` });
      fakeGraph.noteUserInteraction(pageId, psid);
      const text = `${name} {"$ne":null} ${FORGED_LOG}`;
      expect((await post(messagingBody(pageId, messageEvent({ pageId, psid, text })))).status).to.equal(200);
      const postId = `${pageId}_900000000001`;
      const comment = commentChange({
        pageId,
        verb: 'add',
        commentId: `900000000001_${i}7`,
        postId,
        from: { id: psid, name },
        message: `${name} io! taglia M ${FORGED_LOG}`,
      });
      expect((await post(changesBody(pageId, comment))).status).to.equal(200);
    }
    await settle();
    const fans = await FanModel.find({ psid: { $in: XSS.map((_, i) => `340000000000000${i}`) } }).lean();
    expect(fans.map((f) => f.firstName).sort()).to.deep.equal([...XSS].sort());
  });

  it('an m.me ref that looks like an operator or a pattern matches no referral code', async () => {
    const referrer = '3400000000000100';
    await ReferralCodeModel.create({ pageId, psid: referrer, code: 'abcdefgh', createdAt: new Date() });
    const hostileRefs = [
      'r_{"$ne":null}',
      'r_$ne',
      'r_.*',
      'r_[a-z]*',
      'r_abcdefg.',
      'r_ABCDEFGH',
      'r_abcdefgh\u0000',
    ];
    for (const [i, ref] of hostileRefs.entries()) {
      const psid = `34000000000002${String(i).padStart(2, '0')}`;
      fakeGraph.noteUserInteraction(pageId, psid);
      await post(messagingBody(pageId, referralEvent({ pageId, psid, ref })));
    }
    // The control: the true code does attribute the fan, so the refusals above are not vacuous.
    const control = '3400000000000299';
    fakeGraph.noteUserInteraction(pageId, control);
    await post(messagingBody(pageId, referralEvent({ pageId, psid: control, ref: 'r_abcdefgh' })));
    await settle();
    const attributed = await ReferralModel.find(
      { pageId, referrerPsid: referrer },
      { inviteePsid: 1 },
    ).lean();
    expect(attributed.map((r) => r.inviteePsid)).to.deep.equal([control]);
    const arrivals = await FanModel.find({ psid: /^3400000000000[2]/ }, { psid: 1, arrival: 1 }).lean();
    for (const fan of arrivals) expect(fan.arrival?.ref, fan.psid).to.be.a('string');
  });

  it('every log line is one JSON object: no fan text forges or splits a line', async () => {
    const body = JSON.stringify({ object: `page${FORGED_LOG}`, entry: [{ id: FORGED_LOG }] });
    expect((await post(body)).status).to.equal(200);
    expect(logLines.length).to.be.greaterThan(10);
    // Fan texts are not logged at all; this is the one place sender-controlled text is (the
    // webhook's list of problems): it must stay inside a JSON string.
    expect(logLines.filter((l) => l.includes('forged by a fan'))).to.have.length.greaterThan(0);
    for (const line of logLines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed, line.slice(0, 300)).to.not.have.property('pwned');
      expect(parsed.msg, line.slice(0, 300)).to.not.equal('forged by a fan');
    }
  });

  it('the admin API hands hostile names to the dashboard as JSON, never as HTML', async () => {
    const { token } = await createApiToken({
      pageId,
      name: 'injection',
      role: 'viewer',
      createdBy: 'test',
      now: new Date(),
    });
    const res = await fetch(`${app.url}/admin/api/fans?limit=50`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    const body = (await res.json()) as { items?: { firstName?: string }[] };
    const names = (body.items ?? []).map((f) => f.firstName);
    for (const name of XSS) expect(names).to.include(name);

    const page = await fetch(`${app.url}/dashboard/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).to.match(/script-src 'self'/);
    expect(csp).to.not.include('unsafe-inline');
    const html = await page.text();
    for (const m of RAW_MARKERS) expect(html).to.not.include(m);
  });

  it('the simulator serves a static page and fan data only as JSON', async () => {
    const page = await fetch(`${app.url}/simulator/`);
    expect(page.headers.get('content-security-policy') ?? '').to.not.include('unsafe-inline');
    const html = await page.text();
    for (const m of RAW_MARKERS) expect(html).to.not.include(m);
    const state = await fetch(`${app.url}/simulator/api/state`);
    expect(state.headers.get('content-type')).to.match(/^application\/json/);
  });

  it('the order page escapes product titles and variant labels', async () => {
    const { order } = await createOrder({ pageId, now: new Date(), config }, {
      psid: '3400000000000001',
      lines: XSS.map((x, i) => ({
        sku: `X${i}`,
        variantSku: `X${i}-S`,
        title: { it: x, en: x },
        variantLabel: x,
        unitPrice: money(1000, 'EUR'),
        qty: 1,
      })),
      source: { type: 'cart', cartId: 'injection' },
      idempotencyKey: 'injection:order',
    } as Parameters<typeof createOrder>[1]);
    for (const lang of ['it', 'en', '"><script>alert(1)</script>']) {
      const res = await fetch(
        `${app.url}/orders/${encodeURIComponent(order.token)}?lang=${encodeURIComponent(lang)}`,
      );
      expect(res.status).to.equal(200);
      const html = await res.text();
      for (const m of RAW_MARKERS) expect(html, `lang=${lang}`).to.not.include(m);
      expect(html).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
      // An attribute break-out arrives as text: the quote is escaped, so no attribute can end early.
      expect(html).to.include('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
      expect(html).to.match(/<html lang="(it|en)">/);
    }
  });

  it('the privacy status page never echoes a hostile code or language', async () => {
    for (const code of XSS) {
      for (const lang of ['en', '"><script>alert(1)</script>']) {
        const res = await fetch(
          `${app.url}/privacy/deletion/${encodeURIComponent(code)}?lang=${encodeURIComponent(lang)}`,
          { headers: { 'accept-language': '"><script>alert(3)</script>' } },
        );
        expect(res.status).to.be.oneOf([400, 404]);
        const text = await res.text();
        for (const m of RAW_MARKERS) expect(text, `${code} ${lang}`).to.not.include(m);
      }
    }
  });
});
