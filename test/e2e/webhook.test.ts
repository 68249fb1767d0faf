import { expect } from 'chai';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import {
  changesBody,
  commentChange,
  deliveryEvent,
  messageEvent,
  messagingBody,
  envelope,
  postbackEvent,
} from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

describe('webhook → inbox → Botkit turn → outbox → Graph API (end to end)', function () {
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t?.stop();
  });
  beforeEach(() => t.fakeGraph.reset());

  const health = async () =>
    (await fetch(`${t.app.url}/healthz`)).json() as Promise<{ status: string; database: string }>;

  it('answers the verification handshake, refuses a wrong token (403) and other modes (400)', async () => {
    const q = (mode: string, token: string) =>
      fetch(`${t.webhookUrl}?hub.mode=${mode}&hub.verify_token=${token}&hub.challenge=1234567`);
    const ok = await q('subscribe', t.config.facebook.verifyToken);
    expect(ok.status).to.equal(200);
    expect(await ok.text()).to.equal('1234567');
    expect((await q('subscribe', 'nope')).status).to.equal(403);
    expect((await q('unsubscribe', t.config.facebook.verifyToken)).status).to.equal(400);
  });

  it('replies to a message, with the automated-assistant disclosure for a new fan', async () => {
    expect(await t.say('2000000000000001', 'ciao')).to.equal(200);
    const sent = await waitFor(() => {
      const m = t.fakeGraph.messagesTo('2000000000000001');
      return m.length >= 3 && m;
    });
    expect(sent[0]!.messagingType).to.equal('RESPONSE');
    expect(JSON.stringify(sent[1]!.message)).to.match(/assistente automatico/);
    expect(JSON.stringify(sent[1]!.message)).to.contain(`http://localhost:${t.app.port}/privacy`);
    const fan = await FanModel.findOne({ psid: '2000000000000001' }).lean();
    expect(fan?.locale).to.equal('it');
  });

  it('delivers the same event three times and replies once', async () => {
    const event = messageEvent({ pageId: t.pageId, psid: '2000000000000002', text: 'help', mid: 'm_dup_1' });
    t.fakeGraph.noteUserInteraction(t.pageId, '2000000000000002', new Date(event.timestamp ?? Date.now()));
    const body = messagingBody(t.pageId, event);
    const statuses = await Promise.all([t.post(body), t.post(body), t.post(body)]);
    expect(statuses.map((s) => s.status)).to.deep.equal([200, 200, 200]);
    await waitFor(() => t.fakeGraph.messagesTo('2000000000000002').length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(t.fakeGraph.messagesTo('2000000000000002')).to.have.length(1);
    expect(await InboxEventModel.countDocuments({ dedupeKey: 'mid:m_dup_1' })).to.equal(1);
  });

  it('refuses unsigned (401), wrongly signed (401), sha1-only (401) and malformed (400) POSTs and stays healthy', async () => {
    const body = messagingBody(
      t.pageId,
      messageEvent({ pageId: t.pageId, psid: '2000000000000003', text: 'hi' }),
    );
    expect((await t.post(body, { signature: 'none' })).status).to.equal(401);
    expect((await t.post(body, { signature: 'invalid' })).status).to.equal(401);
    expect((await t.post(body, { signature: 'sha1-only' })).status).to.equal(401);
    expect((await t.post('{"object":"page","entry":[')).status).to.equal(400);
    expect((await t.post(Buffer.from([0xff, 0xfe, 0x00]))).status).to.equal(400);
    expect(await InboxEventModel.countDocuments({ queueKey: 'fan:2000000000000003' })).to.equal(0);
    expect((await health()).database).to.equal('up');
  });

  it('accepts entry-less, standby-only, feed-change and unknown shapes with 200 and never crashes', async () => {
    expect((await t.post({ object: 'page' } as never)).status).to.equal(200);
    const standby = envelope(t.pageId, [
      { standby: [messageEvent({ pageId: t.pageId, psid: '2000000000000004', text: 'to the inbox' })] },
    ]);
    expect((await t.post(standby)).status).to.equal(200);
    const feed = changesBody(
      t.pageId,
      commentChange({
        pageId: t.pageId,
        verb: 'add',
        commentId: `${t.pageId}_1_99`,
        postId: `${t.pageId}_1`,
        message: 'voglio',
        from: { id: '777', name: 'Anna' },
      }),
    );
    expect((await t.post(feed)).status).to.equal(200);
    expect(
      (await t.post({ object: 'page', entry: [{ id: t.pageId, time: 1, weird: [1] }, 42] } as never)).status,
    ).to.equal(200);
    await waitFor(async () => (await InboxEventModel.countDocuments({ state: 'pending' })) === 0);
    expect(await InboxEventModel.countDocuments({ kind: 'standby', state: 'skipped' })).to.equal(1);
    expect(await InboxEventModel.countDocuments({ kind: 'feed' })).to.equal(1);
    expect(t.fakeGraph.messagesTo('2000000000000004')).to.have.length(0);
    expect((await health()).status).to.not.equal('down');
  });

  it('refuses an oversized body with 413 before reading it', async () => {
    const huge = messagingBody(
      t.pageId,
      messageEvent({
        pageId: t.pageId,
        psid: '2000000000000005',
        text: 'x'.repeat(t.config.webhookMaxBodyBytes + 10),
      }),
    );
    expect((await t.post(huge)).status).to.equal(413);
  });

  it('keeps non-ASCII text intact through the escaped, signed payload', async () => {
    expect(await t.say('2000000000000006', 'perché è così? 👖')).to.equal(200);
    const stored = await waitFor(
      async () => (await InboxEventModel.findOne({ queueKey: 'fan:2000000000000006' }).lean()) ?? undefined,
    );
    expect(JSON.parse(stored.payload).message.text).to.equal('perché è così? 👖');
  });

  it('routes a postback as an action and a receipt never reaches a dialog', async () => {
    const psid = '2000000000000007';
    t.fakeGraph.noteUserInteraction(t.pageId, psid);
    const pb = postbackEvent({ pageId: t.pageId, psid, payload: 'lang:v1:en', title: 'English' });
    expect((await t.post(messagingBody(t.pageId, pb))).status).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 2);
    expect(JSON.stringify(t.fakeGraph.messagesTo(psid)[0]!.message)).to.match(/English from now on/);
    const before = t.fakeGraph.messagesTo(psid).length;
    expect(
      (
        await t.post(
          messagingBody(t.pageId, deliveryEvent({ pageId: t.pageId, psid, watermark: Date.now() })),
        )
      ).status,
    ).to.equal(200);
    await waitFor(async () => (await FanModel.findOne({ psid }).lean())?.deliveredWatermark);
    expect(t.fakeGraph.messagesTo(psid)).to.have.length(before);
  });

  it('retries through a Graph 5xx/613 storm and delivers', async () => {
    const psid = '2000000000000008';
    const sends = (c: { path: string }) => c.path.endsWith('/messages');
    t.fakeGraph.inject({ kind: '5xx', count: 2, match: sends });
    t.fakeGraph.inject({ kind: '613', count: 1, match: sends });
    expect(await t.say(psid, 'menu')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 1, 15_000);
    expect(t.fakeGraph.messagesTo(psid).length).to.be.at.least(1);
    const rejected = t.fakeGraph.calls.filter((c) => c.status >= 400);
    expect(rejected.length).to.be.at.least(3);
  });

  it('marks the fan unreachable on 551 and does not retry', async () => {
    const psid = '2000000000000009';
    t.fakeGraph.inject({ kind: '551', count: 1, match: (c) => c.recipient?.id === psid });
    expect(await t.say(psid, 'menu')).to.equal(200);
    await waitFor(async () => (await FanModel.findOne({ psid }).lean())?.reachable === false, 15_000);
    const failed = await waitFor(
      async () =>
        (await OutboxMessageModel.findOne({ 'recipient.psid': psid, state: 'failed' }).lean()) ?? undefined,
    );
    expect(failed.lastError?.code).to.equal(551);
  });
});
