/**
 * Hostile input at the webhook (issue #11): generated and mutated real-format payloads POSTed to a
 * whole running bot. What must hold whatever arrives:
 * - only documented statuses (200/400/401/413/503), and exactly 200 for signed JSON under the limit;
 * - no crash, no unhandled rejection, /healthz stays 200;
 * - every stored event ends processed, skipped or parked with its error — never stuck pending;
 * - unsigned or wrongly signed input changes nothing (database and Graph API untouched);
 * (An oversized body is refused before it has been read: webhook-body-limit.test.ts.)
 */
import { createHash, createHmac } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import mongoose from 'mongoose';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PagePostModel } from '../../src/db/models/page-post.js';
import { ProductModel } from '../../src/db/models/product.js';
import {
  commentChange,
  deliveryEvent,
  echoEvent,
  handoverEvent,
  messageEvent,
  optinEvent,
  postbackEvent,
  readEvent,
  referralEvent,
  serializeLikeMeta,
  signBody,
  webhookHeaders,
  type CommentVerb,
} from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import {
  applyMutations,
  fuzzParams,
  fuzzRuns,
  fuzzSeed,
  hostileString,
  mutation,
  NASTY_STRINGS,
  ProcessFailureRecorder,
} from './support.js';

const MAX_BODY = 200_000;
const FANS = ['3100000000000001', '3100000000000002', '3100000000000003'];
const TEXTS = [
  'menu',
  'aiuto',
  'help',
  'negozio',
  'shop',
  'jeans neri',
  'carrello',
  'cart',
  'i miei ordini',
  'acquisti di gruppo',
  'i miei acquisti di gruppo',
  'i miei inviti',
  'vota',
  'operatore',
  'english',
  'italiano',
  'stop',
  'cancella i miei dati',
  'io! taglia M',
  'ne voglio 2',
  'JOIN 2 M',
  'quanto costa?',
];
const PAYLOAD_NAMES = [
  'start',
  'menu',
  'help',
  'human',
  'lang',
  'shop',
  'shop.cat',
  'shop.product',
  'shop.details',
  'shop.variant',
  'shop.qty',
  'cart',
  'cart.empty',
  'cart.remove',
  'checkout',
  'checkout.confirm',
  'orders',
  'gb',
  'gb.details',
  'gb.join',
  'gb.var',
  'gb.qty',
  'gb.leave',
  'gb.mine',
  'gb.cjoin',
  'gb.cvar',
  'gb.cinfo',
  'ref',
  'ref.gb',
  'ref.mine',
  'ref.lead',
  'ref.name',
  'cd',
  'cd.show',
  'cd.vote',
  'cd.cvote',
  'cd.notify',
  'fb.stars',
  'fb.name',
  'fb.skip',
  'privacy',
  'privacy.erase',
];

interface Ids {
  products: string[];
  campaigns: string[];
  posts: string[];
}

/** Real-format bodies built from the app's payload kit, with real ids so handlers go deep. */
function bodyArbitrary(pageId: string, ids: Ids): fc.Arbitrary<unknown> {
  const idArg = fc.constantFrom(
    ...ids.products,
    ...ids.campaigns,
    '000000000000000000000000',
    '1',
    '2',
    'M',
    'it',
  );
  const psid = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...FANS) },
    { weight: 1, arbitrary: hostileString(300) },
  );
  const text = fc.oneof(fc.constantFrom(...TEXTS), hostileString());
  const payload = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...PAYLOAD_NAMES),
          fc.constantFrom('v1', 'v1', 'v1', 'v2', 'v0', 'vx', ''),
          fc.array(fc.oneof(idArg, hostileString(200)), { maxLength: 4 }),
        )
        .map(([name, version, args]) => [name, version, ...args].join(':')),
    },
    { weight: 1, arbitrary: hostileString() },
  );
  const ts = fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 2 ** 47 }));
  const postId = fc.oneof(fc.constantFrom(...ids.posts), hostileString(200));

  const messaging = fc.oneof(
    fc
      .record({
        psid,
        text: fc.option(text, { nil: undefined }),
        qr: fc.option(payload, { nil: undefined }),
        ts,
      })
      .map((o) =>
        messageEvent({ pageId, psid: o.psid, text: o.text, quickReplyPayload: o.qr, timestamp: o.ts }),
      ),
    fc
      .record({ psid, url: hostileString(300) })
      .map((o) =>
        messageEvent({ pageId, psid: o.psid, attachments: [{ type: 'image', payload: { url: o.url } }] }),
      ),
    fc
      .record({
        psid,
        payload,
        title: hostileString(200),
        ref: fc.option(hostileString(100), { nil: undefined }),
      })
      .map((o) =>
        postbackEvent({
          pageId,
          psid: o.psid,
          payload: o.payload,
          title: o.title,
          ...(o.ref ? { referral: { ref: o.ref } } : {}),
        }),
      ),
    fc
      .record({
        psid,
        ref: fc.oneof(hostileString(200), fc.constantFrom('r_abcdefgh', 'r_', 'gb_x', 'r_$ne')),
      })
      .map((o) => referralEvent({ pageId, psid: o.psid, ref: o.ref })),
    fc
      .record({ psid, watermark: fc.integer() })
      .map((o) => deliveryEvent({ pageId, psid: o.psid, watermark: o.watermark, mids: ['m_x'] })),
    fc
      .record({ psid, watermark: fc.integer() })
      .map((o) => readEvent({ pageId, psid: o.psid, watermark: o.watermark })),
    fc
      .record({
        psid,
        text: hostileString(),
        meta: fc.oneof(hostileString(100), fc.constant('ob:000000000000000000000000')),
      })
      .map((o) => echoEvent({ pageId, psid: o.psid, appId: 1234, text: o.text, metadata: o.meta })),
    fc.record({ psid, token: hostileString(200), stop: fc.boolean() }).map((o) =>
      optinEvent({
        pageId,
        psid: o.psid,
        token: o.token,
        ...(o.stop ? { status: 'STOP NOTIFICATIONS' as const } : {}),
      }),
    ),
    fc
      .record({
        psid,
        kind: fc.constantFrom('pass' as const, 'take' as const, 'request' as const),
        app: hostileString(50),
      })
      .map((o) => handoverEvent({ pageId, psid: o.psid, kind: o.kind, otherAppId: o.app, metadata: o.app })),
  );
  const change = fc
    .record({
      verb: fc.constantFrom<CommentVerb>('add', 'add', 'edited', 'remove', 'hide'),
      commentId: fc.oneof(
        fc.nat().map((n) => `9000_${n}`),
        hostileString(200),
      ),
      postId,
      from: fc.record({ id: psid, name: hostileString(300) }),
      message: fc.oneof(fc.constantFrom(...TEXTS), hostileString()),
      legacy: fc.boolean(),
    })
    .map((o) =>
      commentChange({
        pageId,
        verb: o.verb,
        commentId: o.commentId,
        postId: o.postId,
        from: o.from,
        message: o.message,
        ...(o.legacy ? { legacySender: true as const } : {}),
      }),
    );
  const entry = fc
    .record({
      messaging: fc.option(fc.array(messaging, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      standby: fc.option(fc.array(messaging, { minLength: 1, maxLength: 2 }), { nil: undefined }),
      changes: fc.option(fc.array(change, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    })
    .map((e) => ({ id: pageId, time: Date.now(), ...e }));
  const base = fc.array(entry, { minLength: 1, maxLength: 3 }).map((entry) => ({ object: 'page', entry }));
  return fc
    .tuple(base, fc.array(mutation(), { maxLength: 5 }))
    .map(([body, mutations]) => (mutations.length === 0 ? body : applyMutations(body, mutations)));
}

/** Counts and a digest of every collection the webhook path could touch. */
async function snapshot(): Promise<Record<string, string>> {
  const db = mongoose.connection.db!;
  const out: Record<string, string> = {};
  for (const { name } of await db.listCollections().toArray()) {
    // Leases and job bookkeeping move with the clock (scheduled jobs), not with requests.
    if (['leases', 'job_runs', 'page_health'].includes(name)) continue;
    const docs = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
    out[name] = `${docs.length}:${createHash('sha256').update(JSON.stringify(docs)).digest('hex')}`;
  }
  return out;
}

describe('fuzz: webhook under hostile input', function () {
  const runs = fuzzRuns(250);
  this.timeout(120_000 + runs * 2_000);
  let t: TestApp;
  let ids: Ids;
  const recorder = new ProcessFailureRecorder();

  before(async () => {
    recorder.install();
    // One attempt: a failing event is parked at once, so "never stuck" is checked without waiting
    // for minutes of backoff.
    t = await startTestApp({ INBOX_MAX_ATTEMPTS: '1', WEBHOOK_MAX_BODY_BYTES: String(MAX_BODY) });
    const [products, campaigns, posts] = await Promise.all([
      ProductModel.find({}, { _id: 1 }).limit(5).lean(),
      CampaignModel.find({}, { _id: 1 }).limit(5).lean(),
      PagePostModel.find({}, { postId: 1 }).limit(5).lean(),
    ]);
    ids = {
      products: products.map((p) => String(p._id)),
      campaigns: campaigns.map((c) => String(c._id)),
      posts: posts.map((p) => String((p as { postId?: unknown }).postId ?? `${t.pageId}_900000000001`)),
    };
    if (ids.posts.length === 0) ids.posts.push(`${t.pageId}_900000000001`);
  });
  after(async () => {
    recorder.uninstall();
    await t?.stop();
  });

  const healthStatus = async () => (await fetch(`${t.app.url}/healthz`)).status;

  it(`signed, mutated real-format bodies: 200 under the limit, 413 above, the app stays up (${runs} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(bodyArbitrary(t.pageId, ids), fc.boolean(), async (body, likeMeta) => {
        const raw = likeMeta ? serializeLikeMeta(body) : JSON.stringify(body);
        const { status, text } = await t.post(raw);
        const expected = Buffer.byteLength(raw) > MAX_BODY ? 413 : 200;
        expect(status, text).to.equal(expected);
        expect(await healthStatus()).to.equal(200);
        expect(recorder.failures).to.deep.equal([]);
      }),
      fuzzParams(runs),
    );
  });

  it(`signed bodies that are not webhook JSON: 400 or 200, never more (${runs} runs)`, async () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.constantFrom(...NASTY_STRINGS),
      fc.constantFrom(
        '{"object":"page","entry":[',
        '{"__proto__":{"x":1},"object":"page","entry":[]}',
        '[]',
        'null',
        '{}',
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (raw) => {
        const { status } = await t.post(raw);
        let json = true;
        try {
          JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
        } catch {
          json = false;
        }
        expect(status).to.equal(json ? 200 : 400);
        expect(await healthStatus()).to.equal(200);
      }),
      fuzzParams(runs),
    );
    expect(recorder.failures).to.deep.equal([]);
  });

  it('every stored event ends done, skipped or parked with its error (none stuck)', async () => {
    await waitFor(
      async () => (await InboxEventModel.countDocuments({ state: 'pending' })) === 0,
      60_000 + runs * 200,
    );
    const byState = await InboxEventModel.aggregate<{ _id: string; n: number }>([
      { $group: { _id: '$state', n: { $sum: 1 } } },
    ]);
    const states = Object.fromEntries(byState.map((s) => [s._id, s.n]));
    if (process.env.FUZZ_VERBOSE) {
      const byKind = await InboxEventModel.aggregate<{ _id: unknown; n: number }>([
        { $group: { _id: { kind: '$kind', state: '$state' }, n: { $sum: 1 } } },
      ]);
      console.log('inbox', JSON.stringify(byKind), 'graph calls', t.fakeGraph.calls.length);
    }
    expect(Object.keys(states)).to.satisfy((keys: string[]) =>
      keys.every((k) => ['done', 'skipped', 'parked'].includes(k)),
    );
    expect(
      await InboxEventModel.countDocuments({ state: 'parked', lastError: { $in: [null, ''] } }),
    ).to.equal(0);
    const parked = await InboxEventModel.find(
      { state: 'parked' },
      { kind: 1, lastError: 1, payload: 1 },
    ).lean();
    // A parked event is a handler that threw on input it should have skipped: list them in the failure.
    expect(
      parked.map((p) => `${p.kind}: ${p.lastError} in ${p.payload.slice(0, 600)}`),
      `replay with FUZZ_SEED=${fuzzSeed}`,
    ).to.deep.equal([]);
    expect(recorder.failures).to.deep.equal([]);
  });

  it(`unsigned or wrongly signed bodies are refused with 401 and change nothing (${runs} runs)`, async () => {
    await waitFor(async () => (await OutboxMessageModel.countDocuments({ state: 'pending' })) === 0, 60_000);
    const before = await snapshot();
    const graphCalls = t.fakeGraph.calls.length;
    const secret = t.config.facebook.appSecret;
    type Forge = (raw: string) => Record<string, string>;
    const forgeries = fc.constantFrom<Forge>(
      (raw) => webhookHeaders(raw, secret, 'invalid'),
      (raw) => webhookHeaders(raw, secret, 'none'),
      (raw) => webhookHeaders(raw, secret, 'sha1-only'),
      (raw) => ({ 'content-type': 'application/json', 'x-hub-signature-256': signBody(`${raw} `, secret) }),
      (raw) => ({ 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, '') }),
      (raw) => ({
        'content-type': 'application/json',
        'x-hub-signature-256': signBody(raw, secret).slice(0, -1),
      }),
      (raw) => ({ 'content-type': 'application/json', 'x-hub-signature-256': `${signBody(raw, secret)}00` }),
      (raw) => ({
        'content-type': 'application/json',
        'x-hub-signature-256': signBody(raw, secret).replace('sha256=', 'sha1='),
      }),
      (raw) => ({
        'content-type': 'application/json',
        'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('base64')}`,
      }),
      () => ({ 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + 'g'.repeat(64) }),
      () => ({ 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' }),
    );
    await fc.assert(
      fc.asyncProperty(bodyArbitrary(t.pageId, ids), forgeries, async (body, forge) => {
        const raw = serializeLikeMeta(body);
        const res = await fetch(t.webhookUrl, { method: 'POST', headers: forge(raw), body: raw });
        await res.text();
        expect(res.status).to.equal(Buffer.byteLength(raw) > MAX_BODY ? 413 : 401);
      }),
      fuzzParams(runs),
    );
    expect(t.fakeGraph.calls.length, 'Graph API calls').to.equal(graphCalls);
    expect(await snapshot()).to.deep.equal(before);
    expect(await healthStatus()).to.equal(200);
    expect(recorder.failures).to.deep.equal([]);
  });
});
