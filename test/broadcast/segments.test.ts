/**
 * Segment rules compiled to a query and counted against real data (the test MongoDB through the
 * mongoose default connection), and the admin API for segments and broadcasts (roles, audit).
 */
import { expect } from 'chai';
import mongoose, { Types } from 'mongoose';
import { previewDefinition, resolveSegmentFilter, saveSegment } from '../../src/app/segments.js';
import { FanModel } from '../../src/db/models/fan.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { compileSegment, segmentDefinitionSchema, type SegmentDefinition } from '../../src/domain/segment.js';
import { startTestMongo, type TestMongo } from '../db/helpers.js';
import { startHarness, type Harness } from '../admin/harness.js';

const PAGE = '100000000000001';
const NOW = new Date();
const h = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);
const def = (rules: unknown[]): SegmentDefinition => segmentDefinitionSchema.parse({ rules });

describe('segments: compilation and preview on real data', function () {
  this.timeout(30_000);
  let mongo: TestMongo;
  const campaign = new Types.ObjectId();

  before(async () => {
    mongo = await startTestMongo();
    await mongoose.connect(mongo.uri);
    const fan = (psid: string, o: Record<string, unknown>) => ({
      pageId: PAGE,
      psid,
      locale: 'it',
      firstInteractionAt: h(1000),
      lastInteractionAt: h(1),
      tags: [],
      interests: [],
      reachable: true,
      marketingOptOut: false,
      optIns: [],
      ...o,
    });
    await FanModel.collection.insertMany([
      fan('vip-it', { tags: ['vip'], interests: ['denim'] }),
      fan('vip-en', { tags: ['vip', 'press'], locale: 'en', lastInteractionAt: h(30) }),
      fan('plain', { interests: ['shoes'], lastInteractionAt: h(24 * 20) }),
      fan('stopped', { tags: ['vip'], marketingOptOut: true }),
      fan('blocked', { tags: ['vip'], reachable: false }),
      fan('optin', {
        lastInteractionAt: h(100),
        optIns: [{ channel: 'notification_messages', token: 't', status: 'active', createdAt: h(200) }],
      }),
      fan('forgotten', { forgottenAt: h(5) }),
      fan('other-page', { pageId: '999' }),
    ]);
    const db = mongoose.connection.db!;
    await db.collection('carts').insertMany([
      { pageId: PAGE, psid: 'plain', status: 'open', lines: [{ sku: 'x', qty: 1 }] },
      { pageId: PAGE, psid: 'vip-it', status: 'open', lines: [] },
      { pageId: PAGE, psid: 'vip-en', status: 'ordered', lines: [{ sku: 'x', qty: 1 }] },
    ]);
    await db.collection('pledges').insertMany([
      { pageId: PAGE, campaignId: campaign, psid: 'vip-it', state: 'active' },
      { pageId: PAGE, campaignId: campaign, psid: 'vip-en', state: 'converted' },
      { pageId: PAGE, campaignId: campaign, psid: 'plain', state: 'left' },
    ]);
    await db
      .collection('orders')
      .insertMany([
        { pageId: PAGE, psid: 'vip-en', state: 'paid', source: { campaignId: String(campaign) } },
      ]);
  });
  after(async () => {
    await mongoose.disconnect();
    await mongo.stop();
  });

  async function psids(d: SegmentDefinition): Promise<string[]> {
    const { filter } = await resolveSegmentFilter(PAGE, d, NOW);
    const docs = await FanModel.collection.find(filter, { projection: { psid: 1 } }).toArray();
    return docs.map((x) => String(x.psid)).sort();
  }

  it('no rule = every (not forgotten) fan of the page', async () => {
    expect(await psids(def([]))).to.deep.equal(['blocked', 'optin', 'plain', 'stopped', 'vip-en', 'vip-it']);
  });

  it('tags any/all/none, interests, locale', async () => {
    expect(await psids(def([{ type: 'tags', any: ['vip'] }]))).to.deep.equal([
      'blocked',
      'stopped',
      'vip-en',
      'vip-it',
    ]);
    expect(await psids(def([{ type: 'tags', all: ['vip', 'press'] }]))).to.deep.equal(['vip-en']);
    expect(await psids(def([{ type: 'tags', any: ['vip'], none: ['press'] }]))).to.deep.equal([
      'blocked',
      'stopped',
      'vip-it',
    ]);
    expect(await psids(def([{ type: 'interests', any: ['denim', 'shoes'] }]))).to.deep.equal([
      'plain',
      'vip-it',
    ]);
    expect(await psids(def([{ type: 'locale', in: ['en'] }]))).to.deep.equal(['vip-en']);
  });

  it('last interaction (relative and absolute), opted in, STOP excluded', async () => {
    expect(await psids(def([{ type: 'lastInteraction', withinDays: 2 }]))).to.deep.equal([
      'blocked',
      'stopped',
      'vip-en',
      'vip-it',
    ]);
    expect(await psids(def([{ type: 'lastInteraction', notWithinDays: 7 }]))).to.deep.equal(['plain']);
    expect(await psids(def([{ type: 'lastInteraction', before: h(24).toISOString() }]))).to.deep.equal([
      'optin',
      'plain',
      'vip-en',
    ]);
    expect(await psids(def([{ type: 'optedIn' }]))).to.deep.equal(['optin']);
    expect(
      await psids(def([{ type: 'tags', any: ['vip'] }, { type: 'excludeMarketingOptOut' }])),
    ).to.deep.equal(['blocked', 'vip-en', 'vip-it']);
  });

  it('open cart, joined / did not join a campaign, pledged but unpaid (pre-queries on carts, pledges, orders)', async () => {
    expect(await psids(def([{ type: 'openCart', has: true }]))).to.deep.equal(['plain']);
    expect(
      await psids(def([{ type: 'campaign', campaignId: String(campaign), joined: true }])),
    ).to.deep.equal(['vip-en', 'vip-it']);
    expect(
      await psids(
        def([
          { type: 'campaign', campaignId: String(campaign), joined: false },
          { type: 'tags', any: ['vip'] },
        ]),
      ),
    ).to.deep.equal(['blocked', 'stopped']);
    expect(await psids(def([{ type: 'pledgedUnpaid', campaignId: String(campaign) }]))).to.deep.equal([
      'vip-it',
    ]);
  });

  it('invited ≥ N is modelled but refused until the referrals collection exists', async () => {
    const compiled = compileSegment(def([{ type: 'invitedAtLeast', count: 3 }]), { pageId: PAGE, now: NOW });
    expect(compiled.unsupported[0]?.rule).to.equal('invitedAtLeast');
    const saved = await saveSegment(
      { pageId: PAGE, now: NOW },
      { name: 'x', definition: { rules: [{ type: 'invitedAtLeast', count: 3 }] } },
    );
    expect(saved.ok).to.equal(false);
    if (!saved.ok) expect(saved.code).to.equal('unsupported_rule');
  });

  it('preview: size, reach buckets and what a promotion / an update would do', async () => {
    const p = await previewDefinition({ pageId: PAGE, now: NOW }, def([]), 'promotion');
    expect(p.size).to.equal(6);
    // Window: vip-it, stopped (opted out). Outside: vip-en (30 h), plain (20 days). blocked: unreachable.
    expect(p.reach).to.deep.equal({ window: 2, optin: 1, updatesOnly: 2, unreachable: 1 });
    expect(p.reach.window + p.reach.optin + p.reach.updatesOnly + p.reach.unreachable).to.equal(p.size);
    expect(p.forPurpose.wouldSend).to.equal(1);
    expect(p.forPurpose.skipped).to.include({
      opted_out: 1,
      unreachable: 1,
      outside_window: 2,
      optin_channel_unsupported: 1,
    });
    expect(p.optedOut).to.equal(1);
    expect(p.byLocale).to.deep.equal({ it: 5, en: 1 });
    const u = await previewDefinition({ pageId: PAGE, now: NOW }, def([]), 'update');
    expect(u.forPurpose.wouldSend).to.equal(5);
    expect(u.forPurpose.tagged).to.equal(3);
    expect(u.forPurpose.skipped.unreachable).to.equal(1);
  });

  it('rule values never become operators', () => {
    const r = segmentDefinitionSchema.safeParse({ rules: [{ type: 'tags', any: [{ $ne: 'x' }] }] });
    expect(r.success).to.equal(false);
    const extra = segmentDefinitionSchema.safeParse({ rules: [{ type: 'locale', in: ['it'], $where: '1' }] });
    expect(extra.success).to.equal(false);
  });
});

describe('admin API: segments and broadcasts', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('a manager creates a segment, previews it, creates and starts a broadcast; a viewer only reads; all audited', async () => {
    const manager = await h.makeToken('manager');
    const viewer = await h.makeToken('viewer');
    const seg = await h.request('POST', '/segments', {
      token: manager,
      body: { name: 'VIP', definition: { rules: [{ type: 'tags', any: ['vip'] }] } },
    });
    expect(seg.status).to.equal(201);
    const reach = await h.request('GET', `/segments/${seg.body.id}/reach`, { token: viewer });
    expect(reach.status).to.equal(200);
    expect(reach.body.size).to.equal(0);
    const denied = await h.request('POST', '/broadcasts', {
      token: viewer,
      body: {
        name: 'x',
        purpose: 'promotion',
        contents: [{ locale: 'it', text: 'Ciao' }],
        segment: { id: seg.body.id },
      },
    });
    expect(denied.status).to.equal(403);
    const created = await h.request('POST', '/broadcasts', {
      token: manager,
      body: {
        name: 'Drop',
        purpose: 'promotion',
        contents: [{ locale: 'it', text: 'Ciao' }],
        segment: { id: seg.body.id },
      },
    });
    expect(created.status).to.equal(201);
    expect(created.body.state).to.equal('draft');
    const sched = await h.request('POST', `/broadcasts/${created.body.id}/schedule`, {
      token: manager,
      body: { at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(sched.body.state).to.equal('scheduled');
    const bad = await h.request('POST', `/broadcasts/${created.body.id}/resume`, { token: manager });
    expect(bad.status).to.equal(409);
    const cancelled = await h.request('POST', `/broadcasts/${created.body.id}/cancel`, { token: manager });
    expect(cancelled.body.state).to.equal('cancelled');
    const stats = await h.request('GET', `/broadcasts/${created.body.id}/stats`, { token: viewer });
    expect(stats.body).to.include({ state: 'cancelled', done: true, pending: 0 });
    const update = await h.request('POST', '/broadcasts', {
      token: manager,
      body: {
        name: 'u',
        purpose: 'update',
        contents: [{ locale: 'en', text: 'Big sale: 50% off' }],
        segment: { definition: { rules: [] } },
      },
    });
    expect(update.status).to.equal(400);
    const actions = (await AuditEntryModel.find({}).lean()).map((a) => a.action).sort();
    expect(actions).to.include.members([
      'segment.create',
      'broadcast.create',
      'broadcast.schedule',
      'broadcast.cancel',
    ]);
    const list = await h.request('GET', '/broadcasts?limit=1', { token: viewer });
    expect(list.body.items).to.have.length(1);
  });
});
