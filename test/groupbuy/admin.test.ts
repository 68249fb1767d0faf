import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { joinCampaign } from '../../src/app/groupbuy.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { CampaignModel } from '../../src/db/models/campaign.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { PagePostModel } from '../../src/db/models/page-post.js';
import { PledgeModel } from '../../src/db/models/pledge.js';
import { errorCode, startHarness, type Harness } from '../admin/harness.js';
import { sampleProduct } from '../shop/helpers.js';

const H = 60 * 60 * 1000;

describe('group buys: admin API', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;

  const body = (over: Record<string, unknown> = {}) => ({
    slug: 'SPRING',
    productSku: 'P1',
    variantSku: null,
    minQuantity: 3,
    maxQuantity: 4,
    deadline: new Date(Date.now() + 48 * H).toISOString(),
    tiers: [
      { fromQuantity: 0, unitPrice: 4990 },
      { fromQuantity: 3, unitPrice: 3990 },
    ],
    perFanLimit: 2,
    texts: { it: { title: 'Primavera', description: '' }, en: { title: 'Spring', description: '' } },
    ...over,
  });
  const lastAudit = (action: string) => AuditEntryModel.findOne({ action }).sort({ at: -1, _id: -1 }).lean();

  before(async () => {
    h = await startHarness();
    await Promise.all([CampaignModel.init(), PledgeModel.init(), PagePostModel.init()]);
    await upsertProduct({ pageId: h.pageId }, sampleProduct('P1'));
    viewer = await h.makeToken('viewer');
    manager = await h.makeToken('manager');
  });
  after(async () => h?.close());

  it('401 without credentials, 403 for a viewer changing something, 400 on bad input (nothing written)', async () => {
    expect((await h.request('get', '/campaigns')).status).to.equal(401);
    const forbidden = await h.request('post', '/campaigns', { token: viewer, body: body() });
    expect(forbidden.status).to.equal(403);
    const badTiers = await h.request('post', '/campaigns', {
      token: manager,
      body: body({
        tiers: [
          { fromQuantity: 0, unitPrice: 3990 },
          { fromQuantity: 3, unitPrice: 4990 },
        ],
      }),
    });
    expect(badTiers.status).to.equal(400);
    expect(errorCode(badTiers)).to.equal('price_not_decreasing');
    const floatPrice = await h.request('post', '/campaigns', {
      token: manager,
      body: body({ tiers: [{ fromQuantity: 0, unitPrice: 49.9 }] }),
    });
    expect(floatPrice.status).to.equal(400);
    const unknownField = await h.request('post', '/campaigns', {
      token: manager,
      body: body({ committed: 99 }),
    });
    expect(unknownField.status).to.equal(400);
    const past = await h.request('post', '/campaigns', {
      token: manager,
      body: body({ deadline: new Date(Date.now() - H).toISOString() }),
    });
    expect(errorCode(past)).to.equal('deadline_in_past');
    expect(await CampaignModel.countDocuments({})).to.equal(0);
  });

  it('create (draft) → edit → open → edit refused (409) → inspect → link a post → cancel; each change audited', async () => {
    const created = await h.request('post', '/campaigns', { token: manager, body: body() });
    expect(created.status).to.equal(201);
    expect(created.body).to.deep.include({ state: 'draft', slug: 'SPRING', committed: 0 });
    const id = created.body.id as string;
    expect((await lastAudit('campaign.create'))!.target).to.deep.equal({ type: 'campaign', id });
    expect((await h.request('post', '/campaigns', { token: manager, body: body() })).status).to.equal(409);

    const edited = await h.request('patch', `/campaigns/${id}`, {
      token: manager,
      body: { minQuantity: 2, version: 0 },
    });
    expect(edited.status).to.equal(200);
    expect(edited.body.minQuantity).to.equal(2);
    const audit = await lastAudit('campaign.update');
    expect(audit!.before).to.deep.include({ minQuantity: 3 });
    expect(audit!.after).to.deep.include({ minQuantity: 2 });
    const stale = await h.request('patch', `/campaigns/${id}`, {
      token: manager,
      body: { minQuantity: 3, version: 0 },
    });
    expect(errorCode(stale)).to.equal('version_conflict');

    const opened = await h.request('post', `/campaigns/${id}/open`, { token: manager });
    expect(opened.status).to.equal(200);
    expect(opened.body.state).to.equal('open');
    expect(await lastAudit('campaign.open')).to.not.equal(null);
    const late = await h.request('patch', `/campaigns/${id}`, {
      token: manager,
      body: { deadline: new Date(Date.now() + 99 * H).toISOString() },
    });
    expect(late.status).to.equal(409);
    expect(errorCode(late)).to.equal('forbidden_transition');
    expect((await h.request('post', `/campaigns/${id}/open`, { token: manager })).status).to.equal(409);

    const ctx = { pageId: h.pageId, now: new Date(), config: h.config };
    for (const psid of ['1', '2', '3', '4', '5']) {
      await joinCampaign(ctx, {
        campaignId: id,
        psid,
        quantity: 1,
        variantSku: 'P1-S',
        source: { type: 'menu' },
      });
    }
    const page1 = await h.request('get', `/campaigns/${id}/inspect?limit=3`, { token: viewer });
    expect(page1.status).to.equal(200);
    expect(page1.body.campaign).to.deep.include({ state: 'tipped', committed: 4, waitlistCount: 1 });
    expect(page1.body.pledges.items).to.have.length(3);
    expect(page1.body.waitlist.map((p: { psid: string }) => p.psid)).to.deep.equal(['5']);
    expect(page1.body.tier).to.deep.equal({ index: 1, unitPrice: 3990 });
    expect(page1.body.timeLeft).to.deep.include({ unit: 'days', count: 1 });
    expect(page1.body.forecast.verdict).to.equal('tipped');
    expect(page1.body.counted).to.deep.equal({ active: 4, committed: 4, waitlisted: 1, pending: 0 });
    const page2 = await h.request(
      'get',
      `/campaigns/${id}/inspect?limit=3&cursor=${page1.body.pledges.nextCursor}`,
      {
        token: viewer,
      },
    );
    expect(page2.body.pledges.items).to.have.length(1);
    expect(page2.body.pledges.nextCursor).to.equal(null);

    const linked = await h.request('post', `/campaigns/${id}/posts`, {
      token: manager,
      body: { postId: `${h.pageId}_555`, message: 'Primavera!' },
    });
    expect(linked.status).to.equal(200);
    expect(linked.body.linkedPostIds).to.deep.equal([`${h.pageId}_555`]);
    expect((await PagePostModel.findOne({ postId: `${h.pageId}_555` }).lean())!.link).to.deep.equal({
      type: 'campaign',
      id,
    });
    expect(await lastAudit('campaign.link_post')).to.not.equal(null);
    const unlinked = await h.request('delete', `/campaigns/${id}/posts/${h.pageId}_555`, { token: manager });
    expect(unlinked.body.linkedPostIds).to.deep.equal([]);

    const cancelled = await h.request('post', `/campaigns/${id}/cancel`, { token: manager });
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body).to.deep.include({ released: 5, notified: 5, already: false });
    expect(
      await OutboxMessageModel.countDocuments({ idempotencyKey: new RegExp(`^gb:${id}:.*:cancelled$`) }),
    ).to.equal(5);
    expect((await lastAudit('campaign.cancel'))!.after).to.deep.include({ state: 'cancelled', released: 5 });
    const again = await h.request('post', `/campaigns/${id}/cancel`, { token: manager });
    expect(again.body).to.deep.include({ already: true, notified: 0 });

    const list = await h.request('get', '/campaigns?state=cancelled', { token: viewer });
    expect(list.body.items.map((c: { id: string }) => c.id)).to.deep.equal([id]);
    expect(
      (await h.request('get', '/campaigns/0123456789abcdef01234567', { token: viewer })).status,
    ).to.equal(404);
  });
});
