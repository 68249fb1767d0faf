import { CampaignModel } from '../db/models/campaign.js';
import { PagePostModel } from '../db/models/page-post.js';
import { getProduct } from './catalog.js';
import {
  createCampaign,
  joinCampaign,
  openCampaign,
  type CampaignInput,
  type GroupBuyContext,
} from './groupbuy.js';

/**
 * Demo group buys for a fresh `npm start` (simulator mode): three open campaigns on the Denim Lab demo
 * catalogue at different stages, each with a demo Page post that the simulator's "Page posts" tab
 * shows. The pledges are real pledge documents made through `joinCampaign` by demo fans, so every
 * count a fan sees is true.
 */

const H = 60 * 60 * 1000;
const D = 24 * H;

/** Demo pledgers (not simulator fans: those are left free to join). */
export const DEMO_PLEDGER_PSIDS: readonly string[] = Array.from(
  { length: 30 },
  (_, i) => `71990000000000${String(i + 1).padStart(2, '0')}`,
);

interface DemoCampaign {
  readonly input: CampaignInput;
  /** Variant SKU of each demo pledge (quantity 1 each). */
  readonly pledges: readonly string[];
  readonly post: { readonly n: number; readonly message: string; readonly hoursAgo: number };
}

function demoCampaigns(now: Date): DemoCampaign[] {
  const at = (ms: number) => new Date(now.getTime() + ms);
  const rep = (skus: readonly string[], n: number) =>
    Array.from({ length: n }, (_, i) => skus[i % skus.length]!);
  return [
    {
      // Three pledges short of tipping.
      input: {
        slug: 'JEANS25',
        productSku: 'DL-J01',
        variantSku: null,
        minQuantity: 25,
        maxQuantity: null,
        deadline: at(2 * D + 6 * H),
        tiers: [{ fromQuantity: 0, unitPrice: 6490 }],
        perFanLimit: 3,
        texts: {
          it: {
            title: 'Jeans Slim Indaco a 64,90 €',
            description:
              'Il nostro slim in denim giapponese a 64,90 € invece di 89,90 €, se ci stiamo in 25.',
          },
          en: {
            title: 'Slim Indigo Jeans at €64.90',
            description: 'Our Japanese-denim slim at €64.90 instead of €89.90, if 25 of us join.',
          },
        },
      },
      pledges: rep(['DL-J01-IND-28', 'DL-J01-IND-30', 'DL-J01-IND-34', 'DL-J01-IND-36'], 22),
      post: {
        n: 1,
        hoursAgo: 20,
        message:
          'Acquisto di gruppo: Jeans Slim Indaco a 64,90 € invece di 89,90 € se arriviamo a 25. ' +
          'Mancano pochissimi! Scrivici "io" qui sotto o in Messenger (codice JEANS25).',
      },
    },
    {
      // Three price tiers: the more join, the less everyone pays.
      input: {
        slug: 'TEE3',
        productSku: 'DL-T01',
        variantSku: null,
        minQuantity: 10,
        maxQuantity: null,
        deadline: at(5 * D),
        tiers: [
          { fromQuantity: 0, unitPrice: 2490 },
          { fromQuantity: 20, unitPrice: 1990 },
          { fromQuantity: 40, unitPrice: 1590 },
        ],
        perFanLimit: 5,
        texts: {
          it: {
            title: 'T-shirt Logo: più siamo, meno costa',
            description: '24,90 € a testa; da 20 pezzi 19,90 €, da 40 pezzi 15,90 €. Si parte a 10.',
          },
          en: {
            title: 'Logo Tee: the more, the cheaper',
            description: '€24.90 each; from 20 pieces €19.90, from 40 pieces €15.90. Goes ahead at 10.',
          },
        },
      },
      pledges: rep(['DL-T01-BIA-S', 'DL-T01-BIA-M', 'DL-T01-BIA-L'], 7),
      post: {
        n: 2,
        hoursAgo: 6,
        message:
          'La nostra T-shirt Logo a prezzo di gruppo: 24,90 €, 19,90 € da 20 pezzi, 15,90 € da 40. ' +
          'Codice TEE3 — partecipa in Messenger!',
      },
    },
    {
      // A production batch: capped; when it fills, the next batch opens and the waitlist moves in.
      input: {
        slug: 'TRUCKER',
        productSku: 'DL-G01',
        variantSku: null,
        minQuantity: 12,
        maxQuantity: 15,
        deadline: at(3 * D + 12 * H),
        tiers: [{ fromQuantity: 0, unitPrice: 9490 }],
        perFanLimit: 2,
        texts: {
          it: {
            title: 'Giacca Trucker: lotto da 15',
            description:
              'Un lotto di produzione da 15 giacche a 94,90 €. Quando è pieno apriamo il lotto successivo.',
          },
          en: {
            title: 'Trucker Jacket: batch of 15',
            description: 'A production batch of 15 jackets at €94.90. When it is full the next batch opens.',
          },
        },
        autoNextBatch: true,
      },
      pledges: rep(['DL-G01-IND-S', 'DL-G01-IND-M', 'DL-G01-IND-L', 'DL-G01-IND-XL'], 8),
      post: {
        n: 3,
        hoursAgo: 2,
        message:
          'Giacca Trucker in lotto limitato: 15 pezzi a 94,90 €. Quando il lotto è pieno si apre il ' +
          'prossimo. Codice TRUCKER.',
      },
    },
  ];
}

/**
 * Creates the demo campaigns, pledges and posts when the page has no campaign at all and the demo
 * products exist. A page with any campaign of its own is never touched.
 */
export async function loadDemoCampaignsIfEmpty(
  pageId: string,
  now: Date,
): Promise<{ readonly loaded: boolean; readonly campaigns: number; readonly pledges: number }> {
  if ((await CampaignModel.countDocuments({ pageId: String(pageId) })) > 0)
    return { loaded: false, campaigns: 0, pledges: 0 };
  // No announcement is sent while loading (nothing tips), so no link is ever built from this config.
  const config: GroupBuyContext['config'] = {
    publicUrl: '',
    paymentUrlTemplate: undefined,
    defaultLocale: 'it',
  };
  let campaigns = 0;
  let pledges = 0;
  for (const demo of demoCampaigns(now)) {
    const product = await getProduct({ pageId }, demo.input.productSku);
    if (!product) continue;
    // Opened a little before its post, so the pace forecast has something to measure.
    const opened = new Date(now.getTime() - (demo.post.hoursAgo + 1) * H);
    const ctx: GroupBuyContext = { pageId, now: opened, config };
    const created = await createCampaign(ctx, demo.input);
    if (!created.ok) continue;
    await openCampaign(ctx, created.campaign.id);
    campaigns += 1;
    for (const [i, variantSku] of demo.pledges.entries()) {
      const joinedAt = new Date(
        opened.getTime() + ((i + 1) * (now.getTime() - opened.getTime())) / (demo.pledges.length + 1),
      );
      const r = await joinCampaign(
        { pageId, now: joinedAt, config },
        {
          campaignId: created.campaign.id,
          psid: DEMO_PLEDGER_PSIDS[i]!,
          quantity: 1,
          variantSku,
          source: { type: 'menu' },
        },
        { announce: false },
      );
      if (r.ok && r.code === 'joined') pledges += 1;
    }
    const postId = `${pageId}_90000000000${demo.post.n}`;
    await PagePostModel.updateOne(
      { pageId: String(pageId), postId },
      {
        $set: {
          message: demo.post.message,
          imageUrl: product.images[0] ?? null,
          createdTime: new Date(now.getTime() - demo.post.hoursAgo * H),
          link: { type: 'campaign', id: created.campaign.id },
          keywords: ['io', 'ci sto', 'anche io', 'me', 'me too', "i'm in", demo.input.slug.toLowerCase()],
        },
      },
      { upsert: true },
    );
    await CampaignModel.updateOne(
      { _id: created.campaign.id },
      { $addToSet: { linkedPostIds: postId }, $inc: { version: 1 } },
    );
  }
  return { loaded: campaigns > 0, campaigns, pledges };
}
