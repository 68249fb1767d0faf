import { expect } from 'chai';
import mongoose from 'mongoose';
import { appendEntry } from '../../src/app/ledger.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { LedgerEntryModel } from '../../src/db/models/ledger-entry.js';
import { errorCode, startHarness, type Harness } from '../admin/harness.js';

describe('referrals: admin API', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;

  before(async () => {
    h = await startHarness();
    await Promise.all(Object.values(mongoose.models).map((m) => m.init()));
    viewer = await h.makeToken('viewer');
    manager = await h.makeToken('manager');
  });
  after(async () => h?.close());

  it('rewards per page: managers set them (audited), viewers read them, bad input is a 400', async () => {
    const body = { referrer: { kind: 'credit', amount: 500 }, friend: { kind: 'percent', percent: 10 } };
    expect((await h.request('put', '/referrals/rewards/page', { token: viewer, body })).status).to.equal(403);
    const bad = await h.request('put', '/referrals/rewards/page', {
      token: manager,
      body: { referrer: { kind: 'percent', percent: 150 } },
    });
    expect(bad.status).to.equal(400);
    const unknown = await h.request('put', '/referrals/rewards/0123456789abcdef01234567', {
      token: manager,
      body,
    });
    expect(unknown.status).to.equal(404);
    const set = await h.request('put', '/referrals/rewards/page', { token: manager, body });
    expect(set.status).to.equal(200);
    expect(set.body).to.deep.include({
      scope: 'page',
      trigger: 'paid',
      firstOrderOnly: true,
      attributionWindowDays: 30,
    });
    const list = await h.request('get', '/referrals/rewards', { token: viewer });
    expect(list.body.items.map((c: { scope: string }) => c.scope)).to.deep.equal(['page']);
    expect(await AuditEntryModel.countDocuments({ action: 'referral.rewards.set' })).to.equal(1);
  });

  it('the ledger: listed newest first; adjusted with a reason, once per key, audited; balances per fan', async () => {
    const ctx = { pageId: h.pageId, now: new Date() };
    await appendEntry(ctx, {
      psid: 'F1',
      kind: 'earn',
      amount: 500,
      unit: 'EUR',
      idempotencyKey: 'k1:earn',
      reason: 'test',
    });
    const body = {
      psid: 'F1',
      amount: -200,
      unit: 'EUR',
      reason: 'goodwill correction',
      idempotencyKey: 'adj-000001',
    };
    expect(
      (await h.request('post', '/referrals/ledger/adjustments', { token: viewer, body })).status,
    ).to.equal(403);
    const noReason = await h.request('post', '/referrals/ledger/adjustments', {
      token: manager,
      body: { psid: 'F1', amount: 5, unit: 'EUR' },
    });
    expect(noReason.status).to.equal(400);
    const first = await h.request('post', '/referrals/ledger/adjustments', { token: manager, body });
    expect(first.status).to.equal(201);
    expect(first.body).to.deep.include({ created: true });
    const again = await h.request('post', '/referrals/ledger/adjustments', { token: manager, body });
    expect(again.body.created).to.equal(false);
    expect(await LedgerEntryModel.countDocuments({ kind: 'adjust' })).to.equal(1);
    expect(await AuditEntryModel.countDocuments({ action: 'referral.ledger.adjust' })).to.equal(1);

    const page1 = await h.request('get', '/referrals/ledger?limit=1', { token: viewer });
    expect(page1.body.items[0]).to.deep.include({
      kind: 'adjust',
      amount: -200,
      reason: 'goodwill correction',
    });
    const page2 = await h.request('get', `/referrals/ledger?limit=1&cursor=${page1.body.nextCursor}`, {
      token: viewer,
    });
    expect(page2.body.items[0]).to.deep.include({ kind: 'earn', amount: 500 });
    const fan = await h.request('get', '/referrals/fans/F1', { token: viewer });
    expect(fan.body.balances).to.deep.equal([
      { unit: 'EUR', earned: 500, spent: 0, adjusted: -200, balance: 300 },
    ]);
  });

  it('leaders and reach of an unknown campaign are 404; settle is a manager action', async () => {
    const missing = await h.request('get', '/referrals/campaigns/0123456789abcdef01234567/leaders', {
      token: viewer,
    });
    expect(missing.status).to.equal(404);
    expect(errorCode(missing)).to.equal('not_found');
    expect(
      (await h.request('post', '/referrals/settle', { token: viewer, body: { sinceHours: 24 } })).status,
    ).to.equal(403);
    const settled = await h.request('post', '/referrals/settle', {
      token: manager,
      body: { sinceHours: 24 },
    });
    expect(settled.body).to.deep.equal({ orders: 0, earned: 0, reversed: 0, campaigns: 0 });
  });
});
