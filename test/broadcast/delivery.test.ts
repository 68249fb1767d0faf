/**
 * A broadcast through the real app (both roles, simulator mode, fake Graph API): exactly the eligible
 * fans get exactly one message, skips are counted by reason, no promotion carries a tag, STOP opts
 * out, pause/resume/cancel hold and release the outbox, and taps/receipts are counted.
 */
import { expect } from 'chai';
import { Types } from 'mongoose';
import {
  broadcastStats,
  cancelBroadcast,
  createBroadcast,
  pauseBroadcast,
  resumeBroadcast,
  startBroadcast,
  type BroadcastView,
} from '../../src/app/broadcasts.js';
import { BroadcastModel } from '../../src/db/models/broadcast.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { deliveryEvent, messagingBody, postbackEvent, readEvent } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';

const HOUR = 3_600_000;

describe('broadcast delivery through the real app', function () {
  this.timeout(60_000);
  let t: TestApp;

  beforeEach(async () => {
    t = await startTestApp();
  });
  afterEach(async () => {
    await t?.stop();
  });

  const ctx = () => ({ pageId: t.pageId, now: new Date() });

  async function addFan(
    psid: string,
    o: { hoursAgo: number; locale?: 'it' | 'en'; reachable?: boolean; optOut?: boolean; tags?: string[] },
  ): Promise<void> {
    const at = new Date(Date.now() - o.hoursAgo * HOUR);
    await FanModel.collection.insertOne({
      pageId: t.pageId,
      psid,
      locale: o.locale ?? 'it',
      localeSource: 'profile',
      profileFetchedAt: at,
      firstInteractionAt: at,
      lastInteractionAt: at,
      tags: [...(o.tags ?? []), 'bc-test'],
      interests: [],
      reachable: o.reachable ?? true,
      marketingOptOut: o.optOut ?? false,
      optIns: [],
      threadOwner: 'bot',
      createdAt: at,
      updatedAt: at,
    });
    t.fakeGraph.noteUserInteraction(t.pageId, psid, at);
  }

  async function addFans(psids: string[]): Promise<void> {
    const at = new Date(Date.now() - HOUR);
    await FanModel.collection.insertMany(
      psids.map((psid) => ({
        pageId: t.pageId,
        psid,
        locale: 'it',
        firstInteractionAt: at,
        lastInteractionAt: at,
        profileFetchedAt: at,
        tags: ['bc-test'],
        interests: [],
        reachable: true,
        marketingOptOut: false,
        optIns: [],
        createdAt: at,
      })),
    );
    for (const psid of psids) t.fakeGraph.noteUserInteraction(t.pageId, psid, at);
  }

  async function create(extra: Record<string, unknown> = {}): Promise<BroadcastView> {
    const res = await createBroadcast(ctx(), {
      name: 'Spring drop',
      purpose: 'promotion',
      contents: [
        { locale: 'it', text: 'Nuova collezione: 20 capi in anteprima' },
        { locale: 'en', text: 'New collection: 20 pieces, early access' },
      ],
      // Only this test's fans (simulator mode may seed demo fans).
      segment: { definition: { rules: [{ type: 'tags', any: ['bc-test'] }] } },
      ...extra,
    });
    if (!res.ok) throw new Error(JSON.stringify(res));
    return res.broadcast;
  }

  const broadcastMessages = (id: string) =>
    OutboxMessageModel.collection.find({ 'origin.type': 'broadcast', 'origin.id': id }).toArray();

  async function waitDone(id: string, timeoutMs = 20_000) {
    return waitFor(async () => {
      const s = await broadcastStats(ctx(), id);
      return s?.state === 'completed' ? s : undefined;
    }, timeoutMs);
  }

  it('reaches exactly the eligible fans once, counts skips by reason, never tags a promotion', async () => {
    await addFan('in-it-1', { hoursAgo: 1 });
    await addFan('in-it-2', { hoursAgo: 23 });
    await addFan('in-en-1', { hoursAgo: 2, locale: 'en' });
    await addFan('out-1', { hoursAgo: 30 });
    await addFan('out-2', { hoursAgo: 24 * 10 });
    await addFan('optout-1', { hoursAgo: 1, optOut: true });
    await addFan('blocked-db', { hoursAgo: 1, reachable: false });
    // Meta says 551 for this one although our database still thinks it reachable.
    await addFan('blocked-meta', { hoursAgo: 1 });
    t.fakeGraph.markUnreachable(t.pageId, 'blocked-meta');

    const b = await create();
    const started = await startBroadcast(ctx(), b.id);
    expect(started.ok).to.equal(true);
    const stats = await waitDone(b.id);

    const sent = t.fakeGraph.messages.filter((m) => m.metadata?.startsWith('ob:'));
    const byPsid = new Map<string, number>();
    for (const m of sent) byPsid.set(m.psid ?? '', (byPsid.get(m.psid ?? '') ?? 0) + 1);
    expect([...byPsid.keys()].sort()).to.deep.equal(['in-en-1', 'in-it-1', 'in-it-2']);
    expect([...byPsid.values()]).to.deep.equal([1, 1, 1]);
    for (const m of sent) {
      expect(m.tag, `promotion to ${m.psid}`).to.equal(undefined);
      expect(m.messagingType).to.equal('UPDATE');
    }
    expect(t.fakeGraph.messagesTo('in-en-1')[0]!.message.text).to.match(/^New collection/);
    expect(t.fakeGraph.messagesTo('in-it-1')[0]!.message.text).to.match(/^Nuova collezione/);

    expect(stats.counters.targeted).to.equal(8);
    expect(stats.counters.queued).to.equal(4); // 3 in the window + blocked-meta (we could not know)
    expect(stats.counters.sent).to.equal(3);
    expect(stats.counters.failed).to.equal(1);
    expect(stats.failedByCode).to.deep.equal({ '551': 1 });
    expect(stats.skipped).to.deep.equal({ outside_window: 2, opted_out: 1, unreachable: 1 });
    expect((await FanModel.collection.findOne({ psid: 'blocked-meta' }))?.reachable).to.equal(false);
    const keys = (await broadcastMessages(b.id)).map((r) => r.idempotencyKey).sort();
    expect(keys).to.include(`bc:${b.id}:in-it-1`);
  });

  it('STOP opts the fan out at once, confirmed in their language, and the next promotion skips them', async () => {
    await addFan('stopper', { hoursAgo: 1, locale: 'en' });
    expect(await t.say('stopper', 'STOP')).to.equal(200);
    await waitFor(() => t.fakeGraph.messagesTo('stopper').length >= 1, 10_000);
    expect(t.fakeGraph.messagesTo('stopper')[0]!.message.text).to.match(/won't receive offers/);
    expect((await FanModel.collection.findOne({ psid: 'stopper' }))?.marketingOptOut).to.equal(true);

    await addFan('italiano', { hoursAgo: 1 });
    await t.say('italiano', 'non voglio offerte');
    await waitFor(() => t.fakeGraph.messagesTo('italiano').length >= 1, 10_000);
    expect(t.fakeGraph.messagesTo('italiano')[0]!.message.text).to.match(/non riceverai più offerte/);

    const b = await create();
    await startBroadcast(ctx(), b.id);
    const stats = await waitDone(b.id);
    expect(stats.skipped).to.deep.equal({ opted_out: 2 });
    expect(stats.counters.sent).to.equal(0);
  });

  it('an update goes tagged ACCOUNT_UPDATE outside the window; promotional wording is refused', async () => {
    await addFan('in', { hoursAgo: 1 });
    await addFan('out', { hoursAgo: 72 });
    const refused = await createBroadcast(ctx(), {
      name: 'sneaky',
      purpose: 'update',
      contents: [{ locale: 'it', text: 'Sconto del 30% solo oggi!' }],
      segment: { definition: { rules: [] } },
    });
    expect(refused.ok).to.equal(false);
    if (!refused.ok) expect(refused.code).to.equal('invalid_content');

    const b = await create({
      name: 'Privacy policy',
      purpose: 'update',
      contents: [{ locale: 'it', text: 'Abbiamo aggiornato l’informativa sulla privacy del tuo account.' }],
    });
    await startBroadcast(ctx(), b.id);
    await waitDone(b.id);
    const out = t.fakeGraph.messagesTo('out');
    expect(out).to.have.length(1);
    expect(out[0]!.messagingType).to.equal('MESSAGE_TAG');
    expect(out[0]!.tag).to.equal('ACCOUNT_UPDATE');
    expect(t.fakeGraph.messagesTo('in')[0]!.tag).to.equal(undefined);
  });

  it('frequency cap: a fan who got a promotion in the last 48 h is skipped by the next one', async () => {
    await addFan('a', { hoursAgo: 1 });
    await addFan('b', { hoursAgo: 1 });
    const first = await create({ segment: { definition: { rules: [{ type: 'tags', any: ['vip'] }] } } });
    await FanModel.collection.updateOne({ psid: 'a' }, { $set: { tags: ['vip', 'bc-test'] } });
    await startBroadcast(ctx(), first.id);
    await waitDone(first.id);
    const second = await create();
    await startBroadcast(ctx(), second.id);
    const stats = await waitDone(second.id);
    expect(stats.skipped).to.deep.equal({ frequency_cap: 1 });
    expect(stats.counters.sent).to.equal(1);
    expect(t.fakeGraph.messagesTo('a')).to.have.length(1);
    expect(t.fakeGraph.messagesTo('b')).to.have.length(1);
  });

  it('pause holds the pending records (replies still flow), resume releases them, cancel cancels them', async () => {
    const N = 600;
    const psids = Array.from({ length: N }, (_, i) => `p-${String(i).padStart(4, '0')}`);
    await addFans(psids);
    t.fakeGraph.setLatency(50);
    const b = await create();
    await startBroadcast(ctx(), b.id);
    await waitFor(() => t.fakeGraph.messages.length >= 100, 10_000);
    const paused = await pauseBroadcast(ctx(), b.id);
    expect(paused.ok).to.equal(true);
    // Sends already in the sender's hands (claimed, waiting for a token: at most its concurrency,
    // ~0.5 s at 250/s) finish; then nothing more leaves.
    await new Promise((r) => setTimeout(r, 1500));
    const atPause = t.fakeGraph.messages.length;
    await new Promise((r) => setTimeout(r, 1000));
    expect(t.fakeGraph.messages.length).to.equal(atPause);
    expect(atPause).to.be.lessThan(N);
    const held = await OutboxMessageModel.collection.countDocuments({
      'origin.id': b.id,
      state: 'pending',
    });
    expect(held).to.be.greaterThan(0);
    expect((await broadcastStats(ctx(), b.id))?.state).to.equal('paused');

    // A fan in the paused broadcast writes: the reply is not stuck behind the held promotion.
    const waiting = (await OutboxMessageModel.collection.findOne({ 'origin.id': b.id, state: 'pending' }))!;
    const psid = String(waiting.recipient.psid);
    t.fakeGraph.setLatency(0);
    await t.say(psid, 'aiuto');
    await waitFor(() => t.fakeGraph.messagesTo(psid).length >= 1, 10_000);

    const resumed = await resumeBroadcast(ctx(), b.id);
    expect(resumed.ok).to.equal(true);
    const stats = await waitDone(b.id);
    expect(stats.counters.sent).to.equal(N);
    const promo = t.fakeGraph.messages.filter(
      (m) => m.message.text === 'Nuova collezione: 20 capi in anteprima',
    );
    expect(promo).to.have.length(N);
    expect(new Set(promo.map((m) => m.psid)).size).to.equal(N);

    // Cancel: a second broadcast cancelled mid-way leaves no pending record and sends nothing more.
    await BroadcastModel.collection.updateOne(
      { _id: new Types.ObjectId(b.id) },
      { $set: { frequencyCap: null } },
    );
    const c = await create({ frequencyCap: null });
    await startBroadcast(ctx(), c.id);
    await waitFor(
      async () =>
        (await OutboxMessageModel.collection.countDocuments({ 'origin.id': c.id, state: 'sent' })) >= 100,
      10_000,
    );
    const cancelled = await cancelBroadcast(ctx(), c.id);
    expect(cancelled.ok).to.equal(true);
    await new Promise((r) => setTimeout(r, 1500));
    const after = await broadcastStats(ctx(), c.id);
    expect(after?.state).to.equal('cancelled');
    expect(after?.pending).to.equal(0);
    const sentC = await OutboxMessageModel.collection.countDocuments({ 'origin.id': c.id, state: 'sent' });
    expect(sentC).to.be.lessThan(N);
    expect(after?.counters.cancelled).to.be.greaterThan(0);
    expect(after?.counters.sent).to.equal(sentC);
    expect(sentC + (after?.counters.cancelled ?? 0)).to.equal(after?.counters.queued);
    const again = await resumeBroadcast(ctx(), c.id);
    expect(again.ok).to.equal(false);
  });

  it('counts taps (then routes them), deliveries and reads per broadcast', async () => {
    await addFan('tapper', { hoursAgo: 1, locale: 'en' });
    const b = await create({
      contents: [
        {
          locale: 'en',
          text: 'Spring drop',
          card: {
            title: 'Spring drop',
            imageUrl: 'https://example.com/spring.jpg',
            button: { title: 'See it', target: { url: 'https://example.com/spring' } },
          },
          quickReplies: [{ title: 'Shop', target: { payload: 'shop:v1' } }],
        },
      ],
    });
    await startBroadcast(ctx(), b.id);
    await waitDone(b.id);
    const msg = t.fakeGraph.messagesTo('tapper')[0]!;
    const payload = (
      msg.message as { attachment: { payload: { elements: { buttons: { payload: string }[] }[] } } }
    ).attachment.payload.elements[0]!.buttons[0]!.payload;
    expect(payload).to.equal(`bc.tap:v1:${b.id}:0`);

    await t.post(
      messagingBody(t.pageId, postbackEvent({ pageId: t.pageId, psid: 'tapper', payload, title: 'See it' })),
    );
    await waitFor(() => t.fakeGraph.messagesTo('tapper').length >= 2, 10_000);
    const link = t.fakeGraph.messagesTo('tapper')[1]!.message as {
      attachment: { payload: { buttons: { url: string }[] } };
    };
    expect(link.attachment.payload.buttons[0]!.url).to.equal('https://example.com/spring');

    const sentRecord = (await OutboxMessageModel.collection.findOne({ 'origin.id': b.id }))!;
    await t.post(
      messagingBody(
        t.pageId,
        deliveryEvent({ pageId: t.pageId, psid: 'tapper', mids: [String(sentRecord.result.messageId)] }),
        readEvent({ pageId: t.pageId, psid: 'tapper', watermark: Date.now() }),
      ),
    );
    // The quick reply "Shop" routes to the shop flow.
    await t.say('tapper', 'Shop', { quickReplyPayload: `bc.tap:v1:${b.id}:1` });
    const stats = await waitFor(async () => {
      const s = await broadcastStats(ctx(), b.id);
      return s && s.counters.read === 1 && s.counters.clicks === 2 ? s : undefined;
    }, 10_000);
    expect(stats.counters.delivered).to.equal(1);
    expect(stats.clicksByButton).to.deep.equal({ '0': 1, '1': 1 });
    await waitFor(() => t.fakeGraph.messagesTo('tapper').length >= 3, 10_000);
  });
});
