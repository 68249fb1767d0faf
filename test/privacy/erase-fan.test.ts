import { expect } from 'chai';
import mongoose from 'mongoose';
import {
  ERASED_OUTBOX_BODY,
  anonymousId,
  eraseFan,
  recordDeletionRequest,
  type PrivacyContext,
} from '../../src/app/privacy.js';
import { DeletionRequestModel } from '../../src/db/models/deletion-request.js';
import { FanModel } from '../../src/db/models/fan.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { createJobs } from '../../src/jobs/registry.js';
import { silentLogger } from '../../src/log.js';
import { enqueueMessages } from '../../src/messenger/outbox/enqueue.js';
import { useTestDatabase } from '../unit/platform/mongo.js';
import { startGraphFixture } from '../jobs/helpers.js';

describe('eraseFan and pending deletion requests', () => {
  const db = useTestDatabase();
  beforeEach(() => db.clear());

  const pageId = '100000000000001';
  const psid = '6000000000000001';
  const ctx = (): PrivacyContext => ({
    pageId,
    now: new Date(),
    secret: 'test-secret-123',
    outboxRetentionMs: 86_400_000,
  });

  async function seed(): Promise<void> {
    await FanModel.collection.insertOne({
      pageId,
      psid,
      firstName: 'Anna',
      lastName: 'Verdi',
      locale: 'it',
      tags: ['vip'],
      firstInteractionAt: new Date(),
      lastInteractionAt: new Date(),
      forgottenAt: null,
    });
    const item = (key: string) => ({
      pageId,
      idempotencyKey: key,
      kind: 'message' as const,
      recipient: { psid },
      purpose: 'reply' as const,
      body: { text: `Ciao Anna ${key}` },
    });
    await enqueueMessages([item('sent-1'), item('pending-1'), item('keep-me')], new Date());
    await OutboxMessageModel.collection.updateOne({ idempotencyKey: 'sent-1' }, { $set: { state: 'sent' } });
    const raw = mongoose.connection.db!;
    const order = (n: string, owner: string) => ({
      pageId,
      psid: owner,
      number: n,
      token: `tok-${n}`,
      idempotencyKey: `idem-${n}`,
      totals: { units: 2 },
    });
    await raw.collection('orders').insertMany([order('DL-1', psid), order('DL-2', 'someone-else')]);
    await raw.collection('pledges').insertOne({ pageId, psid, campaignId: 'c1', quantity: 1 });
    await raw.collection('checkout_quotes').insertOne({ pageId, psid, cartId: 'x' });
    await raw.collection('votes').insertOne({ pageId, psid, proposalId: 'p1', optionId: 'blu' });
    await raw.collection('reviews').insertOne({
      pageId,
      psid,
      orderId: 'o1',
      productSku: 'S',
      stars: 4,
      text: 'Anna loves it',
      showName: true,
    });
    await raw
      .collection('referrals')
      .insertOne({ pageId, inviteePsid: 'friend', referrerPsid: psid, scope: 'page' });
    await raw
      .collection('ledger')
      .insertOne({ pageId, psid, kind: 'earn', amount: 500, idempotencyKey: 'k1' });
  }

  it('anonymises orders and pledges (counts kept), cancels unsent messages, keeps the named one, and is idempotent', async () => {
    await seed();
    const report = await eraseFan(ctx(), psid, 'admin', { keepOutboxKeys: ['keep-me'] });
    expect(report).to.deep.include({
      fanFound: true,
      orders: 1,
      pledges: 1,
      outboxErased: 1,
      outboxCancelled: 1,
      checkoutQuotes: 1,
    });
    const raw = mongoose.connection.db!;
    const anon = anonymousId('test-secret-123', pageId, psid);
    expect(await raw.collection('orders').countDocuments({ psid: anon })).to.equal(1);
    expect(await raw.collection('orders').countDocuments({ psid: 'someone-else' })).to.equal(1);
    expect(await raw.collection('pledges').countDocuments({ psid: anon })).to.equal(1);
    expect(await raw.collection('votes').countDocuments({ psid: anon, optionId: 'blu' })).to.equal(1);
    const review = await raw.collection('reviews').findOne({ psid: anon });
    expect(review).to.deep.include({ stars: 4, text: '', showName: false });
    expect(await raw.collection('referrals').countDocuments({ referrerPsid: anon })).to.equal(1);
    expect(await raw.collection('ledger').countDocuments({ psid: anon, amount: 500 })).to.equal(1);
    for (const name of ['votes', 'reviews', 'referrals', 'ledger']) {
      const leftovers = await raw
        .collection(name)
        .countDocuments({ $or: [{ psid }, { referrerPsid: psid }] });
      expect(leftovers, name).to.equal(0);
    }
    const out = Object.fromEntries(
      (await OutboxMessageModel.collection.find({}).toArray()).map((m) => [m.idempotencyKey, m]),
    );
    expect(out['sent-1']).to.deep.include({ state: 'sent', body: ERASED_OUTBOX_BODY });
    expect(out['pending-1']).to.deep.include({
      state: 'cancelled',
      cancelledReason: 'erased',
      body: ERASED_OUTBOX_BODY,
    });
    expect(out['keep-me']!.state).to.equal('pending');
    expect(out['keep-me']!.body).to.contain('Ciao Anna');
    const fan = await FanModel.findOne({ psid }).lean();
    expect(fan?.tags).to.deep.equal([]);
    expect(fan?.firstName).to.equal(undefined);

    const again = await eraseFan(ctx(), psid, 'admin', { keepOutboxKeys: ['keep-me'] });
    expect(again).to.deep.include({
      alreadyForgotten: true,
      orders: 0,
      pledges: 0,
      outboxErased: 0,
      outboxCancelled: 0,
    });
  });

  it('the privacy-deletions job finishes a request left pending by a crash', async () => {
    await seed();
    const old = { ...ctx(), now: new Date(Date.now() - 5 * 60_000) };
    const { code } = await recordDeletionRequest(old, { source: 'admin', subjectId: psid });
    const fx = await startGraphFixture();
    const runner = new JobRunner({
      jobs: createJobs(),
      config: fx.config,
      graph: fx.graph,
      log: silentLogger,
      schedule: false,
      catchUp: false,
    });
    try {
      const report = await runner.runNow('privacy-deletions');
      expect(report.status === 'ran' && report.summary).to.deep.include({ completed: 1, failed: 0 });
    } finally {
      await runner.stop();
      await fx.close();
    }
    const request = await DeletionRequestModel.findOne({ code }).lean();
    expect(request?.state).to.equal('completed');
    expect((await FanModel.findOne({ psid }).lean())?.forgottenAt).to.be.instanceOf(Date);
  });
});
