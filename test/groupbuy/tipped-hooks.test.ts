import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import {
  createCampaign,
  joinCampaign,
  openCampaign,
  registerTippedHook,
  type GroupBuyContext,
} from '../../src/app/groupbuy.js';
import { tipSafetyNet } from '../../src/app/groupbuy-lifecycle.js';
import { loadConfig } from '../../src/config/index.js';
import { connectShopDb, sampleProduct } from '../shop/helpers.js';

const config = loadConfig({});
const pageId = config.facebook.page.id;
const now = new Date('2026-05-01T10:00:00Z');
const ctx = (): GroupBuyContext => ({ pageId, now, config });

describe('group buys: features that react to a tipping (hooks)', function () {
  this.timeout(60_000);
  let db: Awaited<ReturnType<typeof connectShopDb>>;
  const calls: string[] = [];

  before(async () => {
    db = await connectShopDb();
    await upsertProduct({ pageId }, sampleProduct('H1'));
    registerTippedHook(async (_ctx, campaignId) => {
      calls.push(campaignId);
    });
  });
  after(async () => db?.stop());

  async function campaign(slug: string): Promise<string> {
    const created = await createCampaign(ctx(), {
      slug,
      productSku: 'H1',
      variantSku: null,
      minQuantity: 2,
      maxQuantity: null,
      deadline: new Date(now.getTime() + 48 * 3_600_000),
      tiers: [{ fromQuantity: 0, unitPrice: 2990 }],
      perFanLimit: 2,
      texts: { it: { title: 'T', description: '' }, en: { title: 'T', description: '' } },
    });
    if (!created.ok) throw new Error(JSON.stringify(created));
    await openCampaign(ctx(), created.campaign.id);
    return created.campaign.id;
  }

  it('the join that tips runs the hooks once; earlier joins do not', async () => {
    const id = await campaign('HOOK1');
    // joinCampaign runs afterJoin itself (announcement, hooks) once the pledge is active.
    const join = async (psid: string) => {
      await joinCampaign(ctx(), {
        campaignId: id,
        psid,
        quantity: 1,
        variantSku: 'H1-S',
        source: { type: 'menu' },
      });
    };
    await join('h-1');
    expect(calls.filter((c) => c === id)).to.have.length(0);
    await join('h-2');
    expect(
      calls.filter((c) => c === id),
      'after the tipping join',
    ).to.have.length(1);
    await join('h-3');
    expect(calls.filter((c) => c === id)).to.have.length(1);
  });

  it('the safety net runs them for a campaign that crossed its threshold without an announcement', async () => {
    const id = await campaign('HOOK2');
    for (const psid of ['s-1', 's-2']) {
      // Joined without the follow-up: as if the process died right after the tipping join.
      await joinCampaign(
        ctx(),
        { campaignId: id, psid, quantity: 1, variantSku: 'H1-S', source: { type: 'menu' } },
        { announce: false },
      );
    }
    expect(calls.filter((c) => c === id)).to.have.length(0);
    await tipSafetyNet(ctx());
    expect(calls.filter((c) => c === id).length).to.be.at.least(1);
  });
});
