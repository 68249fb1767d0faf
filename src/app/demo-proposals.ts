import { ProposalModel } from '../db/models/proposal.js';
import { PagePostModel } from '../db/models/page-post.js';
import { getProduct } from './catalog.js';
import {
  castVote,
  createProposal,
  linkProposalPost,
  publishProposal,
  type ProposalContext,
  type ProposalInput,
} from './proposals.js';

/**
 * The demo co-design proposal for a fresh `npm start` (simulator mode): "which colour for the new
 * jacket?", published with a few real votes (vote documents made through `castVote`, so the tallies
 * are true) and linked to a fourth demo Page post, where a comment naming a colour becomes a vote.
 * Demo voters are bare PSIDs: voting creates no fan document (fans count in broadcast segments).
 */

const H = 60 * 60 * 1000;
const D = 24 * H;

/** Demo voters (neither simulator fans nor the demo pledgers). */
export const DEMO_VOTER_PSIDS: readonly string[] = Array.from(
  { length: 4 },
  (_, i) => `71990000000100${String(i + 1).padStart(2, '0')}`,
);

export const DEMO_PROPOSAL_POST_N = 4;

function demoProposal(now: Date): ProposalInput {
  const sku = 'DL-G01';
  return {
    code: 'GIUBBOTTO',
    kind: 'choice',
    options: [
      { id: 'blu', texts: { it: 'Blu', en: 'Blue' }, productSku: sku },
      { id: 'nero', texts: { it: 'Nero', en: 'Black' }, productSku: sku },
      { id: 'verde', texts: { it: 'Verde', en: 'Green' }, productSku: sku },
    ],
    texts: {
      it: {
        title: 'Che colore per il nuovo giubbotto?',
        description:
          'Il nostro giubbotto trucker torna in una nuova tinta: scegliete voi. Il colore che arriva a 25 voti va in produzione con un acquisto di gruppo.',
      },
      en: {
        title: 'Which colour for the new jacket?',
        description:
          'Our trucker jacket comes back in a new colour: you choose. The colour that reaches 25 votes goes into production as a group buy.',
      },
    },
    deadline: new Date(now.getTime() + 5 * D),
    threshold: 25,
    onDecision: 'draft_campaign',
    campaignTemplate: {
      minQuantity: 20,
      maxQuantity: 200,
      tiers: [
        { fromQuantity: 0, unitPrice: 9990 },
        { fromQuantity: 40, unitPrice: 8990 },
      ],
      deadlineOffsetHours: 7 * 24,
      perFanLimit: 2,
    },
  };
}

/** Votes of the demo voters, oldest first. */
const DEMO_VOTES: readonly { readonly optionId: string; readonly hoursAgo: number }[] = [
  { optionId: 'blu', hoursAgo: 26 },
  { optionId: 'nero', hoursAgo: 19 },
  { optionId: 'blu', hoursAgo: 8 },
  { optionId: 'verde', hoursAgo: 3 },
];

/**
 * Creates, publishes and votes the demo proposal, with its Page post, when the page has no proposal
 * at all and the demo jacket exists. A page with any proposal of its own is never touched.
 */
export async function loadDemoProposalIfEmpty(
  pageId: string,
  now: Date,
): Promise<{ readonly loaded: boolean; readonly votes: number }> {
  if ((await ProposalModel.countDocuments({ pageId: String(pageId) })) > 0)
    return { loaded: false, votes: 0 };
  const product = await getProduct({ pageId }, 'DL-G01');
  if (!product) return { loaded: false, votes: 0 };
  // Nothing is decided while loading (threshold far away), so no link is ever built from this config.
  const config: ProposalContext['config'] = {
    publicUrl: '',
    paymentUrlTemplate: undefined,
    defaultLocale: 'it',
  };
  const publishedAt = new Date(now.getTime() - 30 * H);
  const ctx: ProposalContext = { pageId, now: publishedAt, config };
  const created = await createProposal(ctx, demoProposal(now));
  if (!created.ok) return { loaded: false, votes: 0 };
  const id = created.proposal.id;
  const published = await publishProposal(ctx, id);
  if (!published.ok) return { loaded: false, votes: 0 };
  let votes = 0;
  for (const [i, v] of DEMO_VOTES.entries()) {
    const r = await castVote(
      { pageId, now: new Date(now.getTime() - v.hoursAgo * H), config },
      {
        proposalId: id,
        psid: DEMO_VOTER_PSIDS[i]!,
        optionId: v.optionId,
        source: i % 2 ? 'comment' : 'messenger',
      },
    );
    if (r.ok) votes += 1;
  }
  const postId = `${pageId}_90000000000${DEMO_PROPOSAL_POST_N}`;
  // Linked to nothing the shop sells (not a campaign or product post), so a comment under it is a vote.
  await PagePostModel.updateOne(
    { pageId: String(pageId), postId },
    {
      $set: {
        message:
          'Co-design: che colore per il nuovo giubbotto? Blu, Nero o Verde? ' +
          'Scrivi il colore qui sotto: a 25 voti va in produzione!',
        imageUrl: product.images[0] ?? null,
        createdTime: new Date(publishedAt.getTime() + H),
        link: { type: 'proposal', id },
        keywords: [],
      },
    },
    { upsert: true },
  );
  await linkProposalPost(ctx, id, postId);
  return { loaded: true, votes };
}
