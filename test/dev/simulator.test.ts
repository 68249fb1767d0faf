import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { loadConfig } from '../../src/config/index.js';
import { createFakeGraph, type FakeGraph, type FakeGraphServer } from '../../src/dev/fake-graph/index.js';
import { createSimulatorRouter, DEMO_FANS } from '../../src/dev/simulator/index.js';
import { createStandInBot, type StandInBot } from '../../src/dev/simulator/stand-in-bot.js';
import { silentLogger } from '../../src/log.js';

const config = loadConfig({});
const page = config.facebook.page;
const GIULIA = DEMO_FANS[0]!.psid;
const EMMA = DEMO_FANS[2]!.psid;
const POST_ID = `${page.id}_900000000000001`;

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    });
  });
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('dev/simulator router', () => {
  let fakeGraph: FakeGraph;
  let graphServer: FakeGraphServer;
  let bot: StandInBot;
  let botServer: Server;
  let simServer: Server;
  let sim: string;

  const get = async (path: string): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${sim}${path}`);
    return { status: res.status, body: (await res.json()) as Json };
  };
  const post = async (path: string, body: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${sim}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const lastWebhook = () => bot.received[bot.received.length - 1]!;

  before(async () => {
    fakeGraph = createFakeGraph({ appSecret: config.facebook.appSecret, pages: [page] });
    graphServer = await fakeGraph.listen();
    bot = createStandInBot({
      appSecret: config.facebook.appSecret,
      graphUrl: graphServer.url,
      pageId: page.id,
      accessToken: page.accessToken,
    });
    const botApp = express();
    botApp.use(bot.router);
    const b = await listen(botApp);
    botServer = b.server;
    const app = express();
    app.use(
      '/simulator',
      createSimulatorRouter({
        config,
        fakeGraph,
        webhookUrl: `${b.url}/api/messages`,
        log: silentLogger,
        posts: () => [{ id: POST_ID, message: 'New jeans drop 👖', createdTime: '2026-03-01T10:00:00Z' }],
      }),
    );
    const s = await listen(app);
    simServer = s.server;
    sim = `${s.url}/simulator`;
  });

  after(async () => {
    await new Promise((r) => simServer.close(r));
    await new Promise((r) => botServer.close(r));
    await graphServer.close();
  });

  it('serves the page with a strict CSP, and its inline script parses', async () => {
    const redirect = await fetch(sim, { redirect: 'manual' });
    expect(redirect.status).to.equal(308);
    expect(redirect.headers.get('location')).to.equal('/simulator/');
    const res = await fetch(`${sim}/`);
    expect(res.status).to.equal(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).to.match(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).to.include("default-src 'none'");
    const html = await res.text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(() => new Function(script)).to.not.throw();
    expect(html).to.not.match(/innerHTML|insertAdjacentHTML|document\.write/);
    expect((await fetch(`${sim}/simulator.css`)).headers.get('content-type')).to.match(/^text\/css/);
  });

  it('lists the page and the demo fans, registered with the fake Graph API profile API', async () => {
    const { body } = await get('/api/state');
    expect(body.page).to.deep.equal({ id: page.id, name: page.name });
    expect(body.fans.map((f: Json) => f.firstName)).to.deep.equal(['Giulia', 'Marco', 'Emma', 'Liam']);
    expect(body.fans[0]).to.include({ psid: GIULIA, locale: 'it_IT', hasThread: false });
    const qs = new URLSearchParams({ fields: 'first_name,locale', access_token: page.accessToken });
    const { createHmac } = await import('node:crypto');
    qs.set(
      'appsecret_proof',
      createHmac('sha256', config.facebook.appSecret).update(page.accessToken).digest('hex'),
    );
    const profile = (await (await fetch(`${graphServer.url}/v25.0/${GIULIA}?${qs}`)).json()) as Json;
    expect(profile).to.include({ first_name: 'Giulia' });
  });

  it('a text send is one correctly signed, real-format webhook POST; the reply appears in /thread', async () => {
    const before = bot.received.length;
    const { status, body } = await post('/api/send', {
      psid: GIULIA,
      kind: 'text',
      text: 'Ciao, è disponibile? 😀',
    });
    expect(status).to.equal(200);
    expect(body.webhookStatus).to.equal(200);
    expect(bot.received.length).to.equal(before + 1);
    const wh = lastWebhook();
    expect(wh.signatureValid).to.equal(true);
    expect(wh.headers['content-type']).to.equal('application/json');
    expect(wh.headers['x-hub-signature-256']).to.match(/^sha256=[0-9a-f]{64}$/);
    const raw = wh.raw.toString('utf8');
    expect(raw).to.include('\\u00e8').and.include('\\ud83d\\ude00');
    expect(/^[\x20-\x7e]*$/.test(raw)).to.equal(true);
    const event = (wh.body as Json).entry[0].messaging[0];
    expect((wh.body as Json).object).to.equal('page');
    expect((wh.body as Json).entry[0].id).to.equal(page.id);
    expect(event.sender).to.deep.equal({ id: GIULIA });
    expect(event.recipient).to.deep.equal({ id: page.id });
    expect(event.message.mid).to.match(/^m_/);
    expect(event.message.text).to.equal('Ciao, è disponibile? 😀');

    await bot.idle();
    const thread = await get(`/api/thread?psid=${GIULIA}`);
    const items = thread.body.items as Json[];
    expect(items[0]).to.include({
      from: 'fan',
      kind: 'text',
      text: 'Ciao, è disponibile? 😀',
      webhookStatus: 200,
    });
    expect(items.some((i) => i.from === 'page' && i.senderAction === 'typing_on')).to.equal(true);
    const reply = items.find((i) => i.from === 'page' && i.message)!;
    expect(reply.message.text).to.equal('You said: Ciao, è disponibile? 😀');
    expect(reply.message.quick_replies).to.have.length(2);
    expect(reply.messagingType).to.equal('RESPONSE');
    // Cursor: nothing new after the last item; other fans see nothing.
    const after = await get(`/api/thread?psid=${GIULIA}&after=${thread.body.cursor}`);
    expect(after.body.items).to.deep.equal([]);
    expect((await get(`/api/thread?psid=${EMMA}`)).body.items).to.deep.equal([]);
    expect((await get('/api/state')).body.fans[0].hasThread).to.equal(true);
  });

  it('a quick reply carries quick_reply.payload and the chip title; the carousel comes back', async () => {
    const { cursor } = (await get(`/api/thread?psid=${GIULIA}`)).body;
    const { body } = await post('/api/send', {
      psid: GIULIA,
      kind: 'quick_reply',
      text: 'Show products',
      payload: 'SHOW_CAROUSEL',
    });
    expect(body.webhookStatus).to.equal(200);
    const msg = (lastWebhook().body as Json).entry[0].messaging[0].message;
    expect(msg).to.include({ text: 'Show products' });
    expect(msg.quick_reply).to.deep.equal({ payload: 'SHOW_CAROUSEL' });
    await bot.idle();
    const items = (await get(`/api/thread?psid=${GIULIA}&after=${cursor}`)).body.items as Json[];
    expect(items.map((i) => i.from)).to.deep.equal(['fan', 'page']);
    expect(items[1]!.message.attachment.payload.template_type).to.equal('generic');
  });

  it('postback, Get Started with an m.me ref, and referral on an existing thread', async () => {
    await post('/api/send', { psid: EMMA, kind: 'get_started', ref: 'inv_abc' });
    const gs = (lastWebhook().body as Json).entry[0].messaging[0];
    expect(gs.postback).to.include({ payload: 'GET_STARTED', title: 'Get Started' });
    expect(gs.postback.referral).to.deep.equal({ ref: 'inv_abc', source: 'SHORTLINK', type: 'OPEN_THREAD' });
    await post('/api/send', {
      psid: EMMA,
      kind: 'postback',
      payload: 'gb.join:v1:501',
      title: 'Join group buy',
    });
    expect((lastWebhook().body as Json).entry[0].messaging[0].postback).to.include({
      payload: 'gb.join:v1:501',
      title: 'Join group buy',
    });
    await post('/api/send', { psid: EMMA, kind: 'referral', ref: 'gb_42' });
    expect((lastWebhook().body as Json).entry[0].messaging[0].referral).to.deep.equal({
      ref: 'gb_42',
      source: 'SHORTLINK',
      type: 'OPEN_THREAD',
    });
    await bot.idle();
    const texts = ((await get(`/api/thread?psid=${EMMA}`)).body.items as Json[])
      .filter((i) => i.from === 'page')
      .map((i) => i.message.text ?? i.message.attachment.payload.text);
    expect(texts).to.deep.equal([
      'Postback GET_STARTED (ref inv_abc)',
      'Postback gb.join:v1:501',
      'Welcome back via gb_42',
    ]);
  });

  it('a comment is a feed change; the private reply shows in the fan chat, the public one under the post', async () => {
    const { body } = await post('/api/comment', {
      psid: EMMA,
      postId: POST_ID,
      message: 'Price for size M?',
    });
    expect(body.webhookStatus).to.equal(200);
    const change = (lastWebhook().body as Json).entry[0].changes[0];
    expect(change.field).to.equal('feed');
    expect(change.value).to.include({
      item: 'comment',
      verb: 'add',
      comment_id: body.commentId,
      post_id: POST_ID,
      parent_id: POST_ID,
      message: 'Price for size M?',
    });
    expect(change.value.from.name).to.equal('Emma Walker');
    expect(change.value.from.id).to.not.equal(EMMA); // from.id is not a PSID
    await bot.idle();
    const items = (await get(`/api/thread?psid=${EMMA}`)).body.items as Json[];
    const priv = items.find((i) => i.viaCommentId === body.commentId)!;
    expect(priv.message.text).to.match(/Thanks for your comment/);
    const posts = (await get('/api/posts')).body.posts as Json[];
    const c = posts[0]!.comments[0];
    expect(c).to.include({
      id: body.commentId,
      fromName: 'Emma Walker',
      privateReply: true,
      webhookStatus: 200,
    });
    expect(c.pageReplies.map((r: Json) => r.message)).to.deep.equal(['We sent you a message 📩']);

    // A reply to the comment: parent_id is the comment.
    const r = await post('/api/comment', {
      psid: GIULIA,
      postId: POST_ID,
      parentId: body.commentId,
      message: 'me too',
    });
    expect((lastWebhook().body as Json).entry[0].changes[0].value.parent_id).to.equal(body.commentId);
    await bot.idle();
    const again = (await get('/api/posts')).body.posts as Json[];
    expect(again[0]!.comments[0].replies.map((x: Json) => x.id)).to.deep.equal([r.body.commentId]);
  });

  it('shows the persistent menu and Get Started from the messenger_profile call', async () => {
    await bot.setupProfile();
    const { profile } = (await get('/api/state')).body;
    expect(profile.getStarted).to.deep.equal({ payload: 'GET_STARTED' });
    expect(profile.persistentMenu[0].call_to_actions[0]).to.include({ title: 'Shop', payload: 'MENU_SHOP' });
    expect(profile.greeting).to.have.length(2);
  });

  it('adds fans and validates input', async () => {
    const added = await post('/api/fans', {
      firstName: '<script>alert(1)</script>',
      lastName: 'X',
      locale: 'en_US',
    });
    expect(added.status).to.equal(201);
    expect(added.body.psid).to.match(/^\d{16}$/);
    expect((await get('/api/state')).body.fans).to.have.length(5);
    expect((await post('/api/fans', { firstName: '' })).status).to.equal(400);
    const bad = await post('/api/send', { psid: GIULIA, kind: 'postback', payload: 'X' });
    expect(bad.status).to.equal(400);
    expect(bad.body.issues[0].path).to.equal('title');
    expect((await post('/api/send', { psid: GIULIA, kind: 'referral', ref: 'bad ref!' })).status).to.equal(
      400,
    );
    expect((await post('/api/send', { psid: '123', kind: 'text', text: 'x' })).status).to.equal(404);
    expect((await get('/api/thread')).status).to.equal(400);
    expect((await post('/api/comment', { psid: GIULIA, postId: 'nope', message: 'x' })).status).to.equal(404);
  });

  it("returns the webhook's refusal so the page can show it", async () => {
    const app = express();
    app.use(
      '/sim',
      createSimulatorRouter({
        config: { facebook: { ...config.facebook, appSecret: 'wrong-secret-123' } },
        fakeGraph,
        webhookUrl: `http://127.0.0.1:${(botServer.address() as AddressInfo).port}/api/messages`,
        log: silentLogger,
        posts: () => [],
      }),
    );
    const { server, url } = await listen(app);
    try {
      const res = await fetch(`${url}/sim/api/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ psid: GIULIA, kind: 'text', text: 'hi' }),
      });
      const body = (await res.json()) as Json;
      expect(body).to.include({ webhookStatus: 403, webhookText: 'bad signature' });
      expect(lastWebhook().signatureValid).to.equal(false);
      const items = ((await (await fetch(`${url}/sim/api/thread?psid=${GIULIA}`)).json()) as Json)
        .items as Json[];
      expect(items.find((i) => i.from === 'fan' && i.text === 'hi')).to.include({ webhookStatus: 403 });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
