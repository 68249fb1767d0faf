import { referralSourceFor } from '../src/app/referrals.js';
import { getProduct, localized, variantLabel, type ProductView } from '../src/app/catalog.js';
import { socialProofFor, withProof } from '../src/app/social-proof.js';
import {
  afterJoin,
  campaignProgress,
  campaignTitle,
  getCampaign,
  joinCampaign,
  leaveCampaign,
  listOpenCampaigns,
  myGroupBuys,
  waitlistPlace,
  type CampaignView,
  type GroupBuyContext,
  type JoinResult,
} from '../src/app/groupbuy.js';
import type { Progress } from '../src/domain/groupbuy.js';
import { formatMoney, money } from '../src/domain/money.js';
import { buildPayload } from '../src/domain/text-match.js';
import {
  buttonTemplate,
  carousel,
  postback,
  quickReplies,
  text,
  truncate,
  type CarouselElementInput,
  type OutgoingMessage,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import { enqueueMessages } from '../src/messenger/outbox/enqueue.js';
import type { Turn } from '../src/messenger/turn.js';

/** Payloads of the group-buy conversation. Campaign ids are ObjectIds; SKUs never contain ":". */
export const GROUPBUY_PAYLOADS = {
  list: buildPayload('gb'),
  mine: buildPayload('gb.mine'),
  join: (campaignId: string) => buildPayload('gb.join', [campaignId]),
  details: (campaignId: string) => buildPayload('gb.details', [campaignId]),
  variant: (campaignId: string, variantSku: string) => buildPayload('gb.var', [campaignId, variantSku]),
  quantity: (campaignId: string, variantSku: string, qty: number) =>
    buildPayload('gb.qty', [campaignId, variantSku, String(qty)]),
  leave: (campaignId: string) => buildPayload('gb.leave', [campaignId]),
  /** The fan's personal invite link for this campaign (flows/referral.ts). */
  invite: (campaignId: string) => buildPayload('ref.gb', [campaignId]),
} as const;

export const GROUPBUY_PHRASES = [
  'acquisti di gruppo',
  'acquisto di gruppo',
  'gruppi di acquisto',
  'group buys',
  'group buy',
  'groupbuy',
  'groupbuys',
];
export const MY_GROUPBUY_PHRASES = [
  'i miei acquisti di gruppo',
  'miei acquisti di gruppo',
  'i miei acquisti',
  'my group buys',
  'my group buy',
];

const CAROUSEL_MAX = 10;
const QUICK_REPLIES_MAX = 13;
const MAX_QTY_CHOICES = 10;

export function groupBuyContext(turn: Turn): GroupBuyContext {
  return {
    pageId: turn.pageId,
    now: turn.now,
    config: turn.config,
  };
}

function absoluteUrl(turn: Turn, url: string | undefined): string | undefined {
  if (!url) return undefined;
  return url.startsWith('/') ? `${turn.config.publicUrl}${url}` : url;
}

function price(turn: Turn, c: CampaignView, amount: number): string {
  return formatMoney(money(amount, c.currency), turn.locale);
}

function timeText(turn: Turn, p: Progress): string {
  return p.timeLeft.expired
    ? turn.t('groupbuy.time.expired')
    : turn.t(`groupbuy.time.${p.timeLeft.unit}`, { count: p.timeLeft.count });
}

/** "18/25 · ancora 7 · 2 giorni" — counts straight from the campaign's pledges, nothing invented. */
export function progressText(turn: Turn, p: Progress): string {
  const parts = [turn.t('groupbuy.count', { committed: p.committed, target: p.target })];
  if (!p.tipped) parts.push(turn.t('groupbuy.to_tip', { count: p.toTip }));
  else parts.push(turn.t('groupbuy.tipped'));
  if (p.full) parts.push(turn.t('groupbuy.full'));
  else if (p.tipped && p.seatsLeft !== null)
    parts.push(turn.t('groupbuy.seats_left', { count: p.seatsLeft }));
  parts.push(timeText(turn, p));
  return parts.join(' · ');
}

/** "39,90 € → 34,90 € da 30" (the current and the next tier's price) or "39,90 € a testa". */
function priceText(turn: Turn, c: CampaignView, p: Progress): string {
  return p.next
    ? turn.t('groupbuy.price_next', {
        price: price(turn, c, p.unitPrice),
        next: price(turn, c, p.next.tier.unitPrice),
        from: p.next.tier.fromQuantity,
      })
    : turn.t('groupbuy.price_now', { price: price(turn, c, p.unitPrice) });
}

function campaignCard(
  turn: Turn,
  c: CampaignView,
  product: ProductView | undefined,
  proof: string | null = null,
): CarouselElementInput {
  const p = campaignProgress(turn, c);
  const image = absoluteUrl(turn, product?.images[0]);
  return {
    title: truncate(campaignTitle(c, turn.locale, product), 80),
    subtitle: withProof(`${progressText(turn, p)}\n${priceText(turn, c, p)}`, proof),
    ...(image ? { imageUrl: image } : {}),
    buttons: [
      postback(turn.t('groupbuy.join'), GROUPBUY_PAYLOADS.join(c.id)),
      postback(turn.t('groupbuy.details_button'), GROUPBUY_PAYLOADS.details(c.id)),
      postback(turn.t('groupbuy.invite'), GROUPBUY_PAYLOADS.invite(c.id)),
    ],
  };
}

function navigation(turn: Turn, prompt: string): OutgoingMessage {
  return quickReplies(prompt, [
    { title: truncate(turn.t('groupbuy.mine'), 20), payload: GROUPBUY_PAYLOADS.mine },
    { title: truncate(turn.t('groupbuy.all'), 20), payload: GROUPBUY_PAYLOADS.list },
    { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
  ]);
}

/** The open campaigns as cards with live progress. */
export async function showGroupBuys(turn: Turn, intro?: string): Promise<void> {
  const campaigns = await listOpenCampaigns(groupBuyContext(turn), { limit: CAROUSEL_MAX });
  if (campaigns.length === 0) {
    turn.say(
      quickReplies(intro ?? turn.t('groupbuy.none'), [
        { title: truncate(turn.t('menu.shop'), 20), payload: buildPayload('shop') },
        { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
      ]),
    );
    return;
  }
  turn.say(text(intro ?? turn.t('groupbuy.intro')));
  const cards: CarouselElementInput[] = [];
  for (const c of campaigns) {
    const proof = (await socialProofFor(turn, c.productSku, turn.locale)).text; // true social proof of the product
    cards.push(campaignCard(turn, c, await getProduct(turn, c.productSku), proof));
  }
  turn.say(carousel(cards));
  turn.say(navigation(turn, turn.t('groupbuy.title')));
}

/** A campaign a fan can still act on, or the friendly "that offer has changed" and the current list. */
async function liveCampaign(turn: Turn, id: string): Promise<CampaignView | undefined> {
  const c = await getCampaign(turn, id);
  if (c && ['open', 'tipped'].includes(c.state) && c.deadline.getTime() > turn.now.getTime()) return c;
  await showGroupBuys(turn, turn.t('groupbuy.stale'));
  return undefined;
}

async function showDetails(turn: Turn, id: string): Promise<void> {
  const c = await liveCampaign(turn, id);
  if (!c) return;
  const product = await getProduct(turn, c.productSku);
  const p = campaignProgress(turn, c);
  const own =
    turn.locale === 'en'
      ? c.texts.en.description || c.texts.it.description
      : c.texts.it.description || c.texts.en.description;
  const body = turn.t('groupbuy.details', {
    title: campaignTitle(c, turn.locale, product),
    description: own || (product ? localized(product.description, turn.locale) : ''),
    progress: progressText(turn, p),
    price: price(turn, c, p.unitPrice),
    next: p.next
      ? turn.t('groupbuy.next_tier', { count: p.next.more, price: price(turn, c, p.next.tier.unitPrice) })
      : turn.t('groupbuy.best_tier'),
    time: timeText(turn, p),
    limit: c.perFanLimit,
  });
  turn.say(
    buttonTemplate(truncate(body.replace(/\n{3,}/g, '\n\n'), 640), [
      postback(turn.t('groupbuy.join'), GROUPBUY_PAYLOADS.join(c.id)),
      postback(turn.t('groupbuy.back'), GROUPBUY_PAYLOADS.list),
    ]),
  );
}

/** Join → the variants (in stock, or the campaign's own) → the quantity → the pledge. */
async function chooseVariant(turn: Turn, id: string): Promise<void> {
  const c = await liveCampaign(turn, id);
  if (!c) return;
  if (c.variantSku) {
    await chooseQuantity(turn, c.id, c.variantSku);
    return;
  }
  const product = await getProduct(turn, c.productSku);
  if (!product || !product.active || product.variants.length === 0) {
    await showGroupBuys(turn, turn.t('groupbuy.stale'));
    return;
  }
  const inStock = product.variants.filter((v) => v.stock > 0);
  const offered = (inStock.length > 0 ? inStock : product.variants).slice(0, QUICK_REPLIES_MAX);
  turn.say(
    quickReplies(
      turn.t('groupbuy.choose_variant', { title: campaignTitle(c, turn.locale, product) }),
      offered.map((v) => ({
        title: truncate(variantLabel(v), 20),
        payload: GROUPBUY_PAYLOADS.variant(c.id, v.sku),
      })),
    ),
  );
}

async function chooseQuantity(turn: Turn, id: string, variantSku: string): Promise<void> {
  const c = await liveCampaign(turn, id);
  if (!c) return;
  const product = await getProduct(turn, c.productSku);
  const variant = product?.variants.find((v) => v.sku === variantSku);
  if (!product || !variant || (c.variantSku !== null && c.variantSku !== variantSku)) {
    await showGroupBuys(turn, turn.t('groupbuy.stale'));
    return;
  }
  const p = campaignProgress(turn, c);
  // More than the seats left would only reach the waitlist: offer what fits (or the limit when full).
  const fits = p.seatsLeft !== null && p.seatsLeft > 0 ? Math.min(c.perFanLimit, p.seatsLeft) : c.perFanLimit;
  const max = Math.min(MAX_QTY_CHOICES, fits);
  turn.say(
    quickReplies(
      turn.t('groupbuy.choose_quantity', {
        title: campaignTitle(c, turn.locale, product),
        variant: variantLabel(variant),
        price: price(turn, c, p.unitPrice),
        max: c.perFanLimit,
      }),
      Array.from({ length: max }, (_, i) => ({
        title: String(i + 1),
        payload: GROUPBUY_PAYLOADS.quantity(c.id, variantSku, i + 1),
      })),
    ),
  );
}

/**
 * Messages that must reach the fan before an announcement this turn triggers (the tipping message
 * comes through the outbox at once): written to the outbox now, keyed by the event, like a turn's.
 */
async function sayBeforeAnnouncements(turn: Turn, messages: readonly OutgoingMessage[]): Promise<void> {
  await enqueueMessages(
    messages.map((m, i) => ({
      pageId: turn.pageId,
      idempotencyKey: `reply:${turn.eventKey}:gb${i}`,
      kind: 'message' as const,
      recipient: { psid: turn.psid },
      purpose: 'reply' as const,
      body: m as unknown as Record<string, unknown>,
      origin: { type: 'turn', id: turn.eventKey },
    })),
    turn.now,
  );
}

async function join(turn: Turn, id: string, variantSku: string, qty: number): Promise<void> {
  if (!Number.isSafeInteger(qty) || qty < 1 || qty > MAX_QTY_CHOICES) {
    await showGroupBuys(turn, turn.t('groupbuy.stale'));
    return;
  }
  const ctx = groupBuyContext(turn);
  // A fan brought by an invite pledges "by referral": the source that leaders and reach count.
  const source = (await referralSourceFor(turn.pageId, turn.psid, id)) ?? { type: 'menu' as const };
  const result = await joinCampaign(
    ctx,
    { campaignId: id, psid: turn.psid, quantity: qty, variantSku, source, eventKey: turn.eventKey },
    { announce: false },
  );
  await replyToJoin(turn, result);
  await afterJoin(ctx, result);
}

async function replyToJoin(turn: Turn, result: JoinResult): Promise<void> {
  if (!result.ok) {
    if (result.code === 'over_fan_limit')
      turn.say(text(turn.t('groupbuy.over_limit', { limit: result.limit })));
    else if (result.code === 'variant_unavailable') turn.say(text(turn.t('groupbuy.variant_unavailable')));
    else if (result.code === 'closed') await showGroupBuys(turn, turn.t('groupbuy.closed'));
    else await showGroupBuys(turn, turn.t('groupbuy.stale'));
    return;
  }
  const c = await getCampaign(turn, result.campaignId);
  if (!c) return;
  const product = await getProduct(turn, c.productSku);
  const variant = product?.variants.find((v) => v.sku === result.variantSku);
  const vars = {
    title: campaignTitle(c, turn.locale, product),
    variant: variant ? variantLabel(variant) : result.variantSku,
    count: result.quantity,
    progress: progressText(turn, campaignProgress(turn, c)),
  };
  const buttons = [
    ...(c.state === 'open' ? [postback(turn.t('groupbuy.leave'), GROUPBUY_PAYLOADS.leave(c.id))] : []),
    postback(turn.t('groupbuy.mine'), GROUPBUY_PAYLOADS.mine),
    postback(turn.t('groupbuy.all'), GROUPBUY_PAYLOADS.list),
  ];
  switch (result.code) {
    case 'joined': {
      const messages: OutgoingMessage[] = [
        buttonTemplate(truncate(turn.t('groupbuy.joined', vars), 640), buttons),
      ];
      if (result.tippedNow) messages.push(text(turn.t('groupbuy.joined_tipped_now')));
      else if (result.state === 'tipped') messages.push(text(turn.t('groupbuy.joined_after_tipping')));
      // The tipping message follows at once through the outbox: the reply must be queued ahead of it.
      if (result.state === 'tipped') await sayBeforeAnnouncements(turn, messages);
      else for (const m of messages) turn.say(m);
      return;
    }
    case 'waitlisted': {
      const place = await waitlistPlace(result.campaignId, result.position);
      turn.say(buttonTemplate(truncate(turn.t('groupbuy.waitlisted', { ...vars, place }), 640), buttons));
      return;
    }
    case 'already_joined': {
      if (result.pledgeState === 'pending') {
        turn.say(text(turn.t('groupbuy.pending')));
        return;
      }
      if (result.pledgeState === 'waitlisted' && result.waitlistPosition !== null) {
        const place = await waitlistPlace(result.campaignId, result.waitlistPosition);
        turn.say(buttonTemplate(truncate(turn.t('groupbuy.waitlisted', { ...vars, place }), 640), buttons));
        return;
      }
      const line = result.changed ? turn.t('groupbuy.updated', vars) : turn.t('groupbuy.already', vars);
      const refused = result.refused ? ` ${turn.t(`groupbuy.refused_${result.refused}`)}` : '';
      turn.say(buttonTemplate(truncate(`${line}${refused}`, 640), buttons));
      return;
    }
  }
}

async function leave(turn: Turn, id: string): Promise<void> {
  const c = await getCampaign(turn, id);
  if (!c) {
    await showGroupBuys(turn, turn.t('groupbuy.stale'));
    return;
  }
  const result = await leaveCampaign(groupBuyContext(turn), { campaignId: c.id, psid: turn.psid });
  const title = campaignTitle(c, turn.locale, await getProduct(turn, c.productSku));
  if (result.ok) {
    turn.say(
      navigation(
        turn,
        turn.t(result.left === 'waitlisted' ? 'groupbuy.left_waitlist' : 'groupbuy.left', { title }),
      ),
    );
    return;
  }
  if (result.code === 'locked') turn.say(navigation(turn, turn.t('groupbuy.leave_locked')));
  else if (result.code === 'not_joined') turn.say(navigation(turn, turn.t('groupbuy.not_joined')));
  else await showGroupBuys(turn, turn.t('groupbuy.closed'));
}

/** "My group buys": one card per pledge with its state, and Leave while that is still possible. */
export async function showMine(turn: Turn): Promise<void> {
  const mine = await myGroupBuys(turn, turn.psid, { limit: CAROUSEL_MAX });
  if (mine.length === 0) {
    turn.say(
      quickReplies(turn.t('groupbuy.mine_empty'), [
        { title: truncate(turn.t('groupbuy.all'), 20), payload: GROUPBUY_PAYLOADS.list },
        { title: truncate(turn.t('menu.menu'), 20), payload: buildPayload('menu') },
      ]),
    );
    return;
  }
  const cards: CarouselElementInput[] = [];
  for (const { campaign: c, pledge, place } of mine) {
    const product = await getProduct(turn, c.productSku);
    const variant = product?.variants.find((v) => v.sku === pledge.variantSku);
    const p = campaignProgress(turn, c);
    const vars = { count: pledge.quantity, variant: variant ? variantLabel(variant) : pledge.variantSku };
    let subtitle: string;
    if (pledge.state === 'waitlisted') subtitle = turn.t('groupbuy.mine_waitlisted', { place: place ?? 1 });
    else if (pledge.state === 'pending') subtitle = turn.t('groupbuy.mine_pending');
    else if (pledge.priceAtTipping !== null)
      subtitle = turn.t('groupbuy.mine_tipped', { ...vars, price: price(turn, c, pledge.priceAtTipping) });
    else subtitle = turn.t('groupbuy.mine_active', { ...vars, progress: progressText(turn, p) });
    const live = ['open', 'tipped'].includes(c.state) && !p.timeLeft.expired;
    const canLeave = live && (c.state === 'open' || pledge.state === 'waitlisted');
    const image = absoluteUrl(turn, product?.images[0]);
    const buttons = [
      ...(live ? [postback(turn.t('groupbuy.details_button'), GROUPBUY_PAYLOADS.details(c.id))] : []),
      ...(canLeave ? [postback(turn.t('groupbuy.leave'), GROUPBUY_PAYLOADS.leave(c.id))] : []),
    ];
    cards.push({
      title: truncate(campaignTitle(c, turn.locale, product), 80),
      subtitle: truncate(subtitle, 80),
      ...(image ? { imageUrl: image } : {}),
      ...(buttons.length > 0 ? { buttons } : {}),
    });
  }
  turn.say(carousel(cards));
  turn.say(navigation(turn, turn.t('groupbuy.title')));
}

/** Registers the group-buy conversation. Register it before the start flow (which owns the fallback). */
export function registerGroupBuyFlow(router: FlowRouter): void {
  router
    .payload('gb', async (turn) => showGroupBuys(turn))
    .payload('gb.mine', async (turn) => showMine(turn))
    .payload('gb.join', async (turn, p) => chooseVariant(turn, p.args[0] ?? ''))
    .payload('gb.details', async (turn, p) => showDetails(turn, p.args[0] ?? ''))
    .payload('gb.var', async (turn, p) => chooseQuantity(turn, p.args[0] ?? '', p.args[1] ?? ''))
    .payload('gb.qty', async (turn, p) => join(turn, p.args[0] ?? '', p.args[1] ?? '', Number(p.args[2])))
    .payload('gb.leave', async (turn, p) => leave(turn, p.args[0] ?? ''))
    .text(MY_GROUPBUY_PHRASES, async (turn) => showMine(turn))
    .text(GROUPBUY_PHRASES, async (turn) => showGroupBuys(turn));
}
