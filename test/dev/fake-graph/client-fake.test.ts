/**
 * GraphClient ↔ fake Graph API over real HTTP: signing, window, private replies, faults, token health.
 */
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import express from 'express';
import type { AddressInfo } from 'node:net';
import http from 'node:http';

import { createFakeGraph } from '../../../src/dev/fake-graph/index.js';
import { carousel, postback, quickReplies, text } from '../../../src/messenger/builders.js';
import { GraphClient, PAGE_INBOX_APP_ID, appSecretProof } from '../../../src/messenger/graph/client.js';
import { isRetryable } from '../../../src/messenger/graph/errors.js';
import {
  APP_SECRET,
  H,
  OTHER_PAGE,
  PAGE,
  VERSION,
  expectGraphError,
  expectNetworkError,
  startHarness,
  type Harness,
} from './helpers.js';

const PSID = '2400000000000001';
const TOKEN = PAGE.accessToken;

describe('GraphClient ↔ fake Graph API (HTTP)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    h.client.close();
    await h.server.close();
  });
  beforeEach(() => {
    h.fake.reset();
    h.clock.ms = Date.parse('2026-03-10T12:00:00Z');
  });

  describe('signing', () => {
    it('adds access_token and appsecret_proof = HMAC-SHA256(token, secret) hex', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID);
      const r = await h.client.sendMessage(TOKEN, PAGE.id, {
        recipient: { id: PSID },
        messaging_type: 'RESPONSE',
        message: text('Ciao Giulia!'),
      });
      expect(r.recipientId).to.equal(PSID);
      expect(r.messageId).to.match(/^m_[A-Za-z0-9_-]{20,}$/);
      const call = h.fake.calls.at(-1)!;
      const expected = createHmac('sha256', APP_SECRET).update(TOKEN).digest('hex');
      expect(call.query.appsecret_proof).to.equal(expected);
      expect(appSecretProof(TOKEN, APP_SECRET)).to.equal(expected);
      expect(call.query.access_token).to.equal(TOKEN);
      expect(call).to.include({ method: 'POST', path: `/${VERSION}/${PAGE.id}/messages`, status: 200 });
      expect(call.pageId).to.equal(PAGE.id);
      expect(call.recipient).to.deep.equal({ id: PSID });
      expect(h.fake.messagesTo(PSID).map((m) => m.message)).to.deep.equal([{ text: 'Ciao Giulia!' }]);
    });

    it('a client with the wrong app secret gets Meta’s 100 “Invalid appsecret_proof”', async () => {
      const bad = new GraphClient({ baseUrl: h.server.url, version: VERSION, appSecret: 'wrong-secret' });
      try {
        const err = await expectGraphError(bad.getMe(TOKEN), { kind: 'invalid', code: 100, httpStatus: 400 });
        expect(err.type).to.equal('GraphMethodException');
        expect(err.graphMessage).to.equal('Invalid appsecret_proof provided in the API argument');
        expect(h.fake.calls.at(-1)!.status).to.equal(400);
      } finally {
        bad.close();
      }
    });

    it('a call without appsecret_proof is refused (Require App Secret)', async () => {
      const res = await fetch(`${h.server.url}/${VERSION}/me?access_token=${TOKEN}`);
      expect(res.status).to.equal(400);
      const body = (await res.json()) as { error: { code: number; message: string; fbtrace_id: string } };
      expect(body.error.code).to.equal(100);
      expect(body.error.message).to.contain('appsecret_proof');
      expect(body.error.fbtrace_id).to.be.a('string');
    });

    it('an unknown token → 190 (kind token); a revoked one → 190/460', async () => {
      await expectGraphError(h.client.getMe('NOT-A-TOKEN'), { kind: 'token', code: 190, httpStatus: 400 });
      expect(await h.client.getMe(TOKEN)).to.deep.equal({ id: PAGE.id, name: PAGE.name });
      h.fake.revokeToken(TOKEN);
      await expectGraphError(h.client.getMe(TOKEN), { kind: 'token', code: 190, subcode: 460 });
    });

    it('a page token cannot act on another page', async () => {
      h.fake.noteUserInteraction(OTHER_PAGE.id, PSID);
      await expectGraphError(
        h.client.sendMessage(TOKEN, OTHER_PAGE.id, {
          recipient: { id: PSID },
          messaging_type: 'RESPONSE',
          message: text('x'),
        }),
        { kind: 'invalid', code: 100, subcode: 33 },
      );
    });
  });

  describe('24 h window', () => {
    const send = (messagingType: 'RESPONSE' | 'UPDATE') =>
      h.client.sendMessage(TOKEN, PAGE.id, {
        recipient: { id: PSID },
        messaging_type: messagingType,
        message: text('hi'),
      });

    it('unknown PSID → 100 / 2018001', async () => {
      await expectGraphError(send('RESPONSE'), { kind: 'invalid', code: 100, subcode: 2018001 });
    });

    it('RESPONSE/UPDATE accepted inside, refused with 10/2018278 outside', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID, h.clock.date(-(24 * H - 1000)));
      expect((await send('RESPONSE')).messageId).to.match(/^m_/);
      expect((await send('UPDATE')).messageId).to.match(/^m_/);
      h.clock.advance(1000);
      const err = await expectGraphError(send('UPDATE'), {
        kind: 'outside_window',
        code: 10,
        subcode: 2018278,
        httpStatus: 400,
      });
      expect(isRetryable(err.kind)).to.equal(false);
      // The fan writes again: the window reopens.
      h.fake.noteUserInteraction(PAGE.id, PSID);
      expect((await send('RESPONSE')).recipientId).to.equal(PSID);
      expect(h.fake.messagesTo(PSID)).to.have.length(3);
    });

    it('MESSAGE_TAG POST_PURCHASE_UPDATE passes outside the window; HUMAN_AGENT only within 7 days', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID, h.clock.date(-3 * 24 * H));
      const r = await h.client.sendMessage(TOKEN, PAGE.id, {
        recipient: { id: PSID },
        messaging_type: 'MESSAGE_TAG',
        tag: 'POST_PURCHASE_UPDATE',
        message: text('Il gruppo ha raggiunto la soglia!'),
      });
      expect(r.messageId).to.match(/^m_/);
      expect(h.fake.messagesTo(PSID)[0]).to.include({
        messagingType: 'MESSAGE_TAG',
        tag: 'POST_PURCHASE_UPDATE',
      });
      const human = () =>
        h.client.sendMessage(TOKEN, PAGE.id, {
          recipient: { id: PSID },
          messaging_type: 'MESSAGE_TAG',
          tag: 'HUMAN_AGENT',
          message: text('Sono Marta del negozio'),
        });
      expect((await human()).messageId).to.match(/^m_/);
      h.clock.advance(5 * 24 * H);
      await expectGraphError(human(), { kind: 'outside_window', code: 10, subcode: 2018278 });
    });

    it('an unreachable fan → 551 / 1545041', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID);
      h.fake.markUnreachable(PAGE.id, PSID);
      await expectGraphError(send('RESPONSE'), { kind: 'unreachable', code: 551, subcode: 1545041 });
    });
  });

  describe('comments', () => {
    const COMMENT = '555_777';
    const note = (ageMs = H, fromId = '900100') =>
      h.fake.noteComment(PAGE.id, {
        commentId: COMMENT,
        postId: `${PAGE.id}_555`,
        fromId,
        createdTime: h.clock.date(-ageMs),
      });

    it('one private reply per comment: the second gets 10900', async () => {
      note();
      const first = await h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('Ti scrivo in privato!'));
      expect(first.messageId).to.match(/^m_/);
      expect(first.recipientId)
        .to.equal(h.fake.psidForComment(COMMENT))
        .and.match(/^\d{16}$/);
      const err = await expectGraphError(h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('Ancora?')), {
        kind: 'private_reply_done',
        code: 10900,
        httpStatus: 400,
      });
      expect(isRetryable(err.kind)).to.equal(false);
      expect(h.fake.messages.filter((m) => m.commentId === COMMENT)).to.have.length(1);
    });

    it('a private reply does not open the 24 h window', async () => {
      note();
      const { recipientId } = await h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('ciao'));
      await expectGraphError(
        h.client.sendMessage(TOKEN, PAGE.id, {
          recipient: { id: recipientId! },
          messaging_type: 'RESPONSE',
          message: text('and another'),
        }),
        { kind: 'outside_window', code: 10, subcode: 2018278 },
      );
      expect(h.fake.messagesTo(recipientId!)).to.have.length(1);
    });

    it('7-day limit on private replies; never on the Page’s own comments', async () => {
      note(7 * 24 * H + 60_000);
      await expectGraphError(h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('late')), {
        kind: 'private_reply_done',
        code: 10903,
      });
      note(H, PAGE.id);
      await expectGraphError(h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('me')), {
        kind: 'private_reply_done',
        code: 10903,
      });
      note(7 * 24 * H - 60_000);
      expect((await h.client.privateReply(TOKEN, PAGE.id, COMMENT, text('just in time'))).messageId).to.match(
        /^m_/,
      );
    });

    it('unknown comment → 100', async () => {
      await expectGraphError(h.client.privateReply(TOKEN, PAGE.id, 'nope_1', text('x')), {
        kind: 'invalid',
        code: 100,
      });
      await expectGraphError(h.client.publicReply(TOKEN, 'nope_1', 'x'), {
        kind: 'invalid',
        code: 100,
        subcode: 33,
      });
    });

    it('public reply → {id}', async () => {
      note();
      const r = await h.client.publicReply(TOKEN, COMMENT, 'Grazie! Ti abbiamo scritto in privato 💌');
      expect(r.id).to.match(/^555_\d+$/);
      expect(h.fake.publicReplies).to.have.length(1);
      expect(h.fake.publicReplies[0]).to.include({ commentId: COMMENT, id: r.id, pageId: PAGE.id });
      expect(h.fake.calls.at(-1)).to.include({
        method: 'POST',
        path: `/${VERSION}/${COMMENT}/comments`,
        status: 200,
      });
    });
  });

  describe('injected faults surface as the right kind', () => {
    beforeEach(() => h.fake.noteUserInteraction(PAGE.id, PSID));
    const send = () =>
      h.client.sendMessage(TOKEN, PAGE.id, {
        recipient: { id: PSID },
        messaging_type: 'RESPONSE',
        message: text('x'),
      });

    it('5xx → temporary (retryable), then the next call succeeds', async () => {
      h.fake.inject({ kind: '5xx' });
      const err = await expectGraphError(send(), { kind: 'temporary', httpStatus: 500 });
      expect(err.retryable).to.equal(true);
      expect((await send()).messageId).to.match(/^m_/);
      expect(h.fake.calls.map((c) => c.status)).to.deep.equal([500, 200]);
    });

    it('613 → throttled, 551 → unreachable, 190 → token', async () => {
      h.fake.inject({ kind: '613' });
      h.fake.inject({ kind: '551' });
      h.fake.inject({ kind: '190' });
      await expectGraphError(send(), { kind: 'throttled', code: 613 });
      await expectGraphError(send(), { kind: 'unreachable', code: 551, subcode: 1545041 });
      await expectGraphError(send(), { kind: 'token', code: 190 });
      expect(h.fake.pendingFaults()).to.equal(0);
      expect(h.fake.messages).to.have.length(0);
    });

    it('count and match', async () => {
      h.fake.inject({ kind: '5xx', count: 2, match: (c) => c.recipient?.id === PSID });
      await expectGraphError(h.client.getMe(TOKEN).then(send), { kind: 'temporary' });
      await expectGraphError(send(), { kind: 'temporary' });
      expect((await send()).messageId).to.match(/^m_/);
      expect(h.fake.calls.map((c) => c.status)).to.deep.equal([200, 500, 500, 200]);
    });

    it('timeout → GraphNetworkError (temporary, maybe delivered)', async () => {
      h.fake.inject({ kind: 'timeout', hangMs: 5000 });
      const started = Date.now();
      const err = await expectNetworkError(send());
      expect(Date.now() - started).to.be.within(350, 2000);
      expect(err.kind).to.equal('temporary');
      expect(err.timedOut).to.equal(true);
      expect(err.maybeDelivered).to.equal(true);
      expect(err.message).not.to.contain(TOKEN);
      expect(h.fake.calls.at(-1)!.status).to.equal(0);
    });

    it('timeout with delivered: the message reached the fan although the client saw a timeout', async () => {
      h.fake.inject({ kind: 'timeout', hangMs: 5000, delivered: true });
      await expectNetworkError(send());
      expect(h.fake.messagesTo(PSID)).to.have.length(1);
    });

    it('connection refused → GraphNetworkError, not delivered', async () => {
      const c = new GraphClient({ baseUrl: 'http://127.0.0.1:1', version: VERSION, appSecret: APP_SECRET });
      const err = await expectNetworkError(c.getMe(TOKEN));
      expect(err.code).to.equal('ECONNREFUSED');
      expect(err.maybeDelivered).to.equal(false);
      c.close();
    });
  });

  describe('Messenger Profile API', () => {
    const greeting = (n: number) => ({
      greeting: [{ locale: 'default', text: `Ciao {{user_first_name}} #${n}` }],
    });

    it('10 calls per 10 minutes per page, then 613 (throttled); free again after the window', async () => {
      for (let i = 0; i < 10; i++) {
        await h.client.setMessengerProfile(TOKEN, i % 2 ? PAGE.id : undefined, greeting(i));
        h.clock.advance(1000);
      }
      await expectGraphError(h.client.setMessengerProfile(TOKEN, undefined, greeting(11)), {
        kind: 'throttled',
        code: 613,
      });
      expect(h.fake.messengerProfile(PAGE.id)).to.deep.equal(greeting(9));
      h.clock.advance(10 * 60 * 1000 - 10_000 + 1);
      await h.client.setMessengerProfile(TOKEN, undefined, greeting(12));
      expect(h.fake.messengerProfile(PAGE.id)).to.deep.equal(greeting(12));
    });

    it('validates greeting, Get Started, persistent menu and ice breakers (100)', async () => {
      const bad = [
        { greeting: [{ locale: 'it_IT', text: 'Ciao' }] }, // no default locale
        { greeting: [{ locale: 'default', text: 'x'.repeat(161) }] },
        {
          persistent_menu: [
            { locale: 'default', call_to_actions: [{ type: 'postback', title: 'Menu', payload: 'm' }] },
          ],
        }, // no Get Started
        {
          get_started: { payload: 'start' },
          persistent_menu: [
            {
              locale: 'default',
              call_to_actions: [{ type: 'postback', title: 'x'.repeat(31), payload: 'm' }],
            },
          ],
        },
        { get_started: { payload: 'x'.repeat(1001) } },
        {
          ice_breakers: [
            {
              locale: 'default',
              call_to_actions: Array.from({ length: 5 }, (_, i) => ({ question: `q${i}`, payload: 'p' })),
            },
          ],
        },
      ];
      for (const profile of bad) {
        await expectGraphError(h.client.setMessengerProfile(TOKEN, undefined, profile as never), {
          kind: 'invalid',
          code: 100,
        });
      }
      expect(h.fake.messengerProfile(PAGE.id)).to.equal(undefined);
      await h.client.setMessengerProfile(TOKEN, PAGE.id, {
        get_started: { payload: 'start:v1' },
        greeting: [
          { locale: 'default', text: 'Ciao {{user_first_name}}!' },
          { locale: 'en_US', text: 'Hi {{user_first_name}}!' },
        ],
        persistent_menu: [
          {
            locale: 'default',
            call_to_actions: [
              { type: 'postback', title: 'Gruppi d’acquisto aperti', payload: 'menu:v1:groupbuys' },
              { type: 'web_url', title: 'Negozio', url: 'https://shop.example' },
            ],
          },
        ],
      });
      expect(h.fake.messengerProfile(PAGE.id)).to.have.keys('get_started', 'greeting', 'persistent_menu');
    });
  });

  describe('profiles, setup, handover, token health', () => {
    it('getProfile from the registered fans; unknown → 100/2018218', async () => {
      h.fake.addUser({ psid: PSID, firstName: 'Giulia', lastName: 'Rossi', locale: 'it_IT' });
      expect(await h.client.getProfile(TOKEN, PSID, ['first_name', 'last_name', 'locale'])).to.deep.equal({
        id: PSID,
        firstName: 'Giulia',
        lastName: 'Rossi',
        locale: 'it_IT',
      });
      await expectGraphError(h.client.getProfile(TOKEN, '999'), {
        kind: 'invalid',
        code: 100,
        subcode: 2018218,
      });
    });

    it('subscribeApp', async () => {
      await h.client.subscribeApp(TOKEN, PAGE.id, ['messages', 'messaging_postbacks', 'feed']);
      expect(h.fake.subscribedFields(PAGE.id)).to.deep.equal(['messages', 'messaging_postbacks', 'feed']);
      await expectGraphError(h.client.subscribeApp(TOKEN, PAGE.id, ['messages', 'bogus']), {
        kind: 'invalid',
        code: 100,
      });
    });

    it('pass and take thread control', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID);
      await h.client.passThreadControl(TOKEN, PAGE.id, PSID, PAGE_INBOX_APP_ID, 'fan asked for a human');
      expect(h.fake.threadOwner(PAGE.id, PSID)).to.equal(PAGE_INBOX_APP_ID);
      await h.client.takeThreadControl(TOKEN, PAGE.id, PSID);
      expect(h.fake.threadOwner(PAGE.id, PSID)).to.equal('1000000000000001');
      expect(h.fake.calls.at(-1)!.body).to.deep.equal({ recipient: { id: PSID } });
    });

    it('sender actions', async () => {
      h.fake.noteUserInteraction(PAGE.id, PSID);
      expect(await h.client.sendSenderAction(TOKEN, PAGE.id, PSID, 'typing_on')).to.deep.equal({
        recipientId: PSID,
      });
      expect(h.fake.senderActions.map((a) => a.action)).to.deep.equal(['typing_on']);
    });

    it('debugToken: valid page token, then revoked (checked with the app token)', async () => {
      const info = await h.client.debugToken(TOKEN);
      expect(info).to.include({ isValid: true, profileId: PAGE.id, type: 'PAGE', expiresAt: null });
      expect(info.scopes).to.include('pages_messaging');
      h.fake.revokeToken(TOKEN);
      const after = await h.client.debugToken(TOKEN, `1000000000000001|${APP_SECRET}`);
      expect(after.isValid).to.equal(false);
      expect(after.error?.code).to.equal(190);
    });
  });

  describe('builders’ output is accepted as is; the fake rejects what breaks the limits', () => {
    beforeEach(() => h.fake.noteUserInteraction(PAGE.id, PSID));
    const sendRaw = (message: unknown) =>
      h.client.sendMessage(TOKEN, PAGE.id, {
        recipient: { id: PSID },
        messaging_type: 'RESPONSE',
        message: message as never,
      });

    it('full-size builder messages pass', async () => {
      const b = postback('x'.repeat(20), 'p'.repeat(1000));
      await sendRaw(text('é'.repeat(1999)));
      await sendRaw(
        quickReplies(
          'scegli',
          Array.from({ length: 13 }, (_, i) => ({
            title: `${i}`.padEnd(20, '·'),
            payload: 'q'.repeat(1000),
          })),
        ),
      );
      await sendRaw(
        carousel(
          Array.from({ length: 10 }, (_, i) => ({
            title: 't'.repeat(80),
            subtitle: 's'.repeat(80),
            imageUrl: `https://img.example/${i}.jpg`,
            buttons: [b, b, b],
          })),
        ),
      );
      expect(h.fake.messagesTo(PSID)).to.have.length(3);
    });

    it('violations → 100 naming the parameter', async () => {
      const cases: [unknown, string][] = [
        [{ text: 'x'.repeat(2000) }, 'message[text]'],
        [{ text: '' }, 'message[text]'],
        [
          {
            text: 'x',
            quick_replies: Array.from({ length: 14 }, () => ({
              content_type: 'text',
              title: 'a',
              payload: 'b',
            })),
          },
          'quick_replies',
        ],
        [
          { text: 'x', quick_replies: [{ content_type: 'text', title: 'x'.repeat(21), payload: 'b' }] },
          'title',
        ],
        [
          { text: 'x', quick_replies: [{ content_type: 'text', title: 'a', payload: 'x'.repeat(1001) }] },
          'payload',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: {
                template_type: 'generic',
                elements: Array.from({ length: 11 }, () => ({ title: 't' })),
              },
            },
          },
          'elements',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: { template_type: 'generic', elements: [{ title: 't'.repeat(81) }] },
            },
          },
          'title',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: { template_type: 'generic', elements: [{ title: 't', subtitle: 's'.repeat(81) }] },
            },
          },
          'subtitle',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: {
                template_type: 'generic',
                elements: [
                  {
                    title: 't',
                    buttons: Array.from({ length: 4 }, () => ({
                      type: 'postback',
                      title: 'a',
                      payload: 'b',
                    })),
                  },
                ],
              },
            },
          },
          'buttons',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: {
                template_type: 'button',
                text: 'x'.repeat(641),
                buttons: [{ type: 'postback', title: 'a', payload: 'b' }],
              },
            },
          },
          'text',
        ],
        [
          { attachment: { type: 'template', payload: { template_type: 'button', text: 'x', buttons: [] } } },
          'buttons',
        ],
        [
          {
            attachment: {
              type: 'template',
              payload: {
                template_type: 'button',
                text: 'x',
                buttons: [{ type: 'postback', title: 'x'.repeat(21), payload: 'b' }],
              },
            },
          },
          'title',
        ],
        [
          { text: 'a', attachment: { type: 'image', payload: { url: 'https://x.example/a.png' } } },
          'exactly one',
        ],
      ];
      for (const [message, mentions] of cases) {
        const err = await expectGraphError(sendRaw(message), { kind: 'invalid', code: 100, httpStatus: 400 });
        expect(err.graphMessage).to.contain(mentions);
      }
      expect(h.fake.messages).to.have.length(0);
      expect(h.fake.calls.every((c) => c.status === 400)).to.equal(true);
    });

    it('messaging_type required and valid; tag only with MESSAGE_TAG and only an allowed one', async () => {
      const raw = (body: Record<string, unknown>) =>
        h.client.request('POST', `/${PAGE.id}/messages`, TOKEN, { data: body });
      const base = { recipient: { id: PSID }, message: { text: 'x' } };
      const e1 = await expectGraphError(raw(base), { kind: 'invalid', code: 100 });
      expect(e1.graphMessage).to.contain('messaging_type');
      await expectGraphError(raw({ ...base, messaging_type: 'PROMO' }), { kind: 'invalid', code: 100 });
      await expectGraphError(raw({ ...base, messaging_type: 'MESSAGE_TAG' }), { kind: 'invalid', code: 100 });
      await expectGraphError(
        raw({ ...base, messaging_type: 'MESSAGE_TAG', tag: 'NON_PROMOTIONAL_SUBSCRIPTION' }),
        {
          kind: 'invalid',
          code: 100,
        },
      );
      await expectGraphError(raw({ ...base, messaging_type: 'RESPONSE', tag: 'ACCOUNT_UPDATE' }), {
        kind: 'invalid',
        code: 100,
      });
      expect(h.fake.messages).to.have.length(0);
    });
  });

  describe('versions and mounting', () => {
    it('the client refuses expired versions; the fake refuses them too', async () => {
      expect(
        () => new GraphClient({ baseUrl: h.server.url, version: 'v3.2', appSecret: APP_SECRET }),
      ).to.throw(/expired/);
      expect(() => new GraphClient({ baseUrl: h.server.url, version: '25', appSecret: APP_SECRET })).to.throw(
        /version/,
      );
      const proof = appSecretProof(TOKEN, APP_SECRET);
      const res = await fetch(`${h.server.url}/v3.2/me?access_token=${TOKEN}&appsecret_proof=${proof}`);
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { error: { code: number } }).error.code).to.equal(100);
    });

    it('works mounted under a prefix of another express app', async () => {
      const fake = createFakeGraph({ appSecret: APP_SECRET, pages: [PAGE] });
      const app = express();
      app.get('/healthz', (_req, res) => {
        res.json({ ok: true });
      });
      app.use('/fake-graph', fake.router);
      const server = http.createServer(app).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const client = new GraphClient({
        baseUrl: `${url}/fake-graph/`,
        version: VERSION,
        appSecret: APP_SECRET,
      });
      try {
        expect(await client.getMe(TOKEN)).to.deep.equal({ id: PAGE.id, name: PAGE.name });
        expect(fake.calls[0]).to.include({ path: `/${VERSION}/me`, status: 200 });
      } finally {
        client.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it('latencyMs delays every answer', async () => {
      h.fake.setLatency(120);
      try {
        const t = Date.now();
        await h.client.getMe(TOKEN);
        expect(Date.now() - t).to.be.at.least(115);
      } finally {
        h.fake.setLatency(0);
      }
    });
  });
});
