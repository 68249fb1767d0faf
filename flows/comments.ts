import { getProduct, variantLabel, type ProductView } from '../src/app/catalog.js';
import {
  afterJoin,
  campaignProgress,
  campaignTitle,
  getCampaign,
  joinCampaign,
  waitlistPlace,
  type CampaignView,
  type GroupBuyContext,
  type JoinResult,
} from '../src/app/groupbuy.js';
import { markConfirmed, recordConversation } from '../src/comments/confirm.js';
import {
  campaignInfoMessage,
  COMMENT_PAYLOADS,
  isLive,
  productInfoMessage,
  progressLine,
} from '../src/comments/messages.js';
import { announceTippingOnPosts } from '../src/comments/service.js';
import { PledgeModel } from '../src/db/models/pledge.js';
import { buildPayload } from '../src/domain/text-match.js';
import {
  buttonTemplate,
  postback,
  quickReplies,
  text,
  truncate,
  type OutgoingMessage,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import { enqueueMessages } from '../src/messenger/outbox/enqueue.js';
import type { Turn } from '../src/messenger/turn.js';
import { showGroupBuys } from './groupbuy.js';

/**
 * Taps on a comment's private reply: `gb.cjoin:v1:<commentId>` makes the pledge the comment asked for
 * (quantity and variant read from it; the variant asked for when it is unclear), with the comment as
 * the pledge's source; `gb.cinfo:v1:<commentId>` answers with the details. The first tap records the
 * fan's PSID on the comment (a conversation started); a second Join answers with the existing pledge.
 */

const QUICK_REPLIES_MAX = 13;

function ctxOf(turn: Turn): GroupBuyContext {
  return { pageId: turn.pageId, now: turn.now, config: turn.config };
}

function navigation(turn: Turn): ReturnType<typeof postback>[] {
  return [
    postback(truncate(turn.t('comments.my_groupbuys'), 20), buildPayload('gb.mine')),
    postback(truncate(turn.t('comments.all_groupbuys'), 20), buildPayload('gb')),
  ];
}

/** The variant the comment named ("M", "XL", "Blu"), when the product has exactly one such. */
function variantFromComment(
  product: ProductView | undefined,
  asked: string | null | undefined,
): string | undefined {
  if (!product || !asked) return undefined;
  const want = asked.trim().toLowerCase();
  const matches = product.variants.filter(
    (v) => v.size?.toLowerCase() === want || v.colour?.toLowerCase() === want || v.sku.toLowerCase() === want,
  );
  return matches.length === 1 ? matches[0]!.sku : undefined;
}

async function sayNow(turn: Turn, messages: readonly OutgoingMessage[]): Promise<void> {
  // The tipping announcement goes to the outbox at once: the reply must be queued ahead of it.
  await enqueueMessages(
    messages.map((m, i) => ({
      pageId: turn.pageId,
      idempotencyKey: `reply:${turn.eventKey}:cm${i}`,
      kind: 'message' as const,
      recipient: { psid: turn.psid },
      purpose: 'reply' as const,
      body: m as unknown as Record<string, unknown>,
      origin: { type: 'turn', id: turn.eventKey },
    })),
    turn.now,
  );
}

async function replyToJoin(
  turn: Turn,
  c: CampaignView,
  product: ProductView | undefined,
  result: JoinResult,
): Promise<void> {
  if (!result.ok) {
    if (result.code === 'over_fan_limit')
      turn.say(text(turn.t('comments.over_limit', { limit: result.limit })));
    else if (result.code === 'variant_unavailable') turn.say(text(turn.t('comments.variant_unavailable')));
    else await showGroupBuys(turn, turn.t(result.code === 'closed' ? 'comments.closed' : 'comments.stale'));
    return;
  }
  const fresh = (await getCampaign(turn, result.campaignId)) ?? c;
  const variant = product?.variants.find((v) => v.sku === result.variantSku);
  const vars = {
    title: campaignTitle(fresh, turn.locale, product),
    variant: variant ? variantLabel(variant) : result.variantSku,
    count: result.quantity,
    progress: progressLine(campaignProgress(turn, fresh), turn.locale),
  };
  if (
    result.code === 'waitlisted' ||
    (result.code === 'already_joined' && result.pledgeState === 'waitlisted')
  ) {
    const position = result.code === 'waitlisted' ? result.position : (result.waitlistPosition ?? 1);
    const place = await waitlistPlace(result.campaignId, position);
    turn.say(
      buttonTemplate(truncate(turn.t('comments.waitlisted', { ...vars, place }), 640), navigation(turn)),
    );
    return;
  }
  if (result.code === 'already_joined') {
    if (result.pledgeState === 'pending') turn.say(text(turn.t('comments.pending')));
    else turn.say(buttonTemplate(truncate(turn.t('comments.already', vars), 640), navigation(turn)));
    return;
  }
  const message = buttonTemplate(truncate(turn.t('comments.joined', vars), 640), navigation(turn));
  if (result.state === 'tipped') await sayNow(turn, [message]);
  else turn.say(message);
}

async function joinFromComment(turn: Turn, commentId: string, chosenVariant?: string): Promise<void> {
  const doc = await recordConversation(turn.pageId, commentId, turn.psid, turn.now);
  if (!doc || !doc.campaignId) {
    await showGroupBuys(turn, turn.t('comments.stale'));
    return;
  }
  const c = await getCampaign(turn, doc.campaignId);
  const product = c ? await getProduct(turn, c.productSku) : undefined;
  if (!c) {
    await showGroupBuys(turn, turn.t('comments.stale'));
    return;
  }
  // Confirmed once: a second tap answers with the pledge as it is now.
  const existing = await PledgeModel.findOne({ campaignId: c.id, psid: turn.psid }).lean();
  if (existing && ['active', 'waitlisted', 'converted', 'pending'].includes(existing.state)) {
    if (existing.source?.commentId === commentId)
      await markConfirmed(turn.pageId, commentId, turn.psid, String(existing._id), turn.now);
    await replyToJoin(turn, c, product, {
      ok: true,
      code: 'already_joined',
      campaignId: c.id,
      pledgeId: String(existing._id),
      pledgeState: existing.state,
      quantity: existing.quantity,
      variantSku: existing.variantSku,
      waitlistPosition: existing.waitlistPosition ?? null,
      changed: false,
    });
    return;
  }
  if (!isLive(c, turn.now)) {
    await showGroupBuys(turn, turn.t('comments.closed'));
    return;
  }
  const quantity = doc.intent?.quantity ?? 1;
  let variantSku = chosenVariant ?? c.variantSku ?? variantFromComment(product, doc.intent?.variant);
  if (!variantSku && product) {
    const inStock = product.variants.filter((v) => v.stock > 0);
    const offered = inStock.length > 0 ? inStock : product.variants;
    if (offered.length === 1) variantSku = offered[0]!.sku;
    else if (offered.length > 1) {
      turn.say(
        quickReplies(
          turn.t('comments.choose_variant', {
            title: campaignTitle(c, turn.locale, product),
            count: quantity,
          }),
          offered.slice(0, QUICK_REPLIES_MAX).map((v) => ({
            title: truncate(variantLabel(v), 20),
            payload: COMMENT_PAYLOADS.variant(commentId, v.sku),
          })),
        ),
      );
      return;
    }
  }
  const ctx = ctxOf(turn);
  const result = await joinCampaign(
    ctx,
    {
      campaignId: c.id,
      psid: turn.psid,
      quantity,
      variantSku: variantSku ?? null,
      source: { type: 'comment', commentId, postId: doc.postId },
      eventKey: turn.eventKey,
    },
    { announce: false },
  );
  if (result.ok && result.code !== 'already_joined') {
    await markConfirmed(turn.pageId, commentId, turn.psid, result.pledgeId, turn.now);
  }
  await replyToJoin(turn, c, product, result);
  await afterJoin(ctx, result);
  if (result.ok && result.code === 'joined' && result.tippedNow) {
    await announceTippingOnPosts(ctx, result.campaignId);
  }
}

async function infoFromComment(turn: Turn, commentId: string): Promise<void> {
  const doc = await recordConversation(turn.pageId, commentId, turn.psid, turn.now);
  if (!doc) {
    await showGroupBuys(turn, turn.t('comments.stale'));
    return;
  }
  if (doc.campaignId) {
    const c = await getCampaign(turn, doc.campaignId);
    if (c) {
      const product = await getProduct(turn, c.productSku);
      turn.say(campaignInfoMessage(turn.locale, turn.now, c, product, commentId));
      return;
    }
  }
  const product = doc.productSku ? await getProduct(turn, doc.productSku) : undefined;
  if (product) {
    turn.say(productInfoMessage(turn.locale, product));
    return;
  }
  await showGroupBuys(turn, turn.t('comments.stale'));
}

/** Registers the comment taps. Register it before the start flow (which owns the fallback). */
export function registerCommentsFlow(router: FlowRouter): void {
  router
    .payload('gb.cjoin', async (turn, p) => joinFromComment(turn, p.args[0] ?? ''))
    .payload('gb.cvar', async (turn, p) => joinFromComment(turn, p.args[0] ?? '', p.args[1] || undefined))
    .payload('gb.cinfo', async (turn, p) => infoFromComment(turn, p.args[0] ?? ''));
}
