import type { Config, Locale } from '../config/index.js';
import { localized, type ProductView } from '../app/catalog.js';
import { campaignProgress, campaignTitle, type CampaignView } from '../app/groupbuy.js';
import { pickIndex } from '../domain/comment-intent.js';
import type { Progress } from '../domain/groupbuy.js';
import { formatMoney, money } from '../domain/money.js';
import { buildPayload } from '../domain/text-match.js';
import { t } from '../i18n/index.js';
import {
  buttonTemplate,
  carousel,
  postback,
  truncate,
  type Button,
  type OutgoingMessage,
} from '../messenger/builders.js';

/** Payloads of the comments feature: they carry the comment id, so a tap is tied to its comment. */
export const COMMENT_PAYLOADS = {
  join: (commentId: string) => buildPayload('gb.cjoin', [commentId]),
  info: (commentId: string) => buildPayload('gb.cinfo', [commentId]),
  variant: (commentId: string, variantSku: string) => buildPayload('gb.cvar', [commentId, variantSku]),
} as const;

/** The shop's own "Choose" payload (flows/shop.ts SHOP_PAYLOADS.product), built the same way. */
export const shopChoosePayload = (sku: string): string => buildPayload('shop.product', [sku]);

const PUBLIC_JOIN_TEMPLATES = 4;
const PUBLIC_INFO_TEMPLATES = 3;
const PUBLIC_PRODUCT_TEMPLATES = 3;

export function absoluteUrl(
  config: Pick<Config, 'publicUrl'>,
  url: string | undefined | null,
): string | undefined {
  if (!url) return undefined;
  return url.startsWith('/') ? `${config.publicUrl}${url}` : url;
}

function priceOf(c: CampaignView, amount: number, locale: Locale): string {
  return formatMoney(money(amount, c.currency), locale);
}

function timeText(p: Progress, locale: Locale): string {
  return p.timeLeft.expired
    ? t(locale, 'groupbuy.time.expired')
    : t(locale, `groupbuy.time.${p.timeLeft.unit}`, { count: p.timeLeft.count });
}

/** "18/25 · ancora 7" (or "· si parte!") — the counts straight from the campaign. */
export function progressLine(p: Progress, locale: Locale): string {
  const parts = [t(locale, 'groupbuy.count', { committed: p.committed, target: p.target })];
  parts.push(p.tipped ? t(locale, 'groupbuy.tipped') : t(locale, 'groupbuy.to_tip', { count: p.toTip }));
  return parts.join(' · ');
}

export function isLive(c: CampaignView, now: Date): boolean {
  return ['open', 'tipped'].includes(c.state) && c.deadline.getTime() > now.getTime();
}

/** The offer card: image, title, progress and price, Join (with the comment id) and Info. */
export function campaignOfferCard(
  config: Pick<Config, 'publicUrl'>,
  locale: Locale,
  now: Date,
  c: CampaignView,
  product: ProductView | undefined,
  commentId: string,
): OutgoingMessage {
  const p = campaignProgress({ now }, c);
  const image = absoluteUrl(config, product?.images[0]);
  return carousel([
    {
      title: truncate(campaignTitle(c, locale, product), 80),
      subtitle: truncate(
        t(locale, 'comments.card_subtitle', {
          progress: progressLine(p, locale),
          price: t(locale, 'groupbuy.price_now', { price: priceOf(c, p.unitPrice, locale) }),
        }),
        80,
      ),
      ...(image ? { imageUrl: image } : {}),
      buttons: [
        postback(t(locale, 'comments.join'), COMMENT_PAYLOADS.join(commentId)),
        postback(t(locale, 'comments.info'), COMMENT_PAYLOADS.info(commentId)),
      ],
    },
  ]);
}

/** The answer to a price/info question about a campaign: the facts and the same two buttons. */
export function campaignInfoMessage(
  locale: Locale,
  now: Date,
  c: CampaignView,
  product: ProductView | undefined,
  commentId: string,
): OutgoingMessage {
  const p = campaignProgress({ now }, c);
  const own =
    locale === 'en'
      ? c.texts.en.description || c.texts.it.description
      : c.texts.it.description || c.texts.en.description;
  const body = t(locale, 'comments.info_text', {
    title: campaignTitle(c, locale, product),
    description: own || (product ? localized(product.description, locale) : ''),
    progress: progressLine(p, locale),
    price: priceOf(c, p.unitPrice, locale),
    time: timeText(p, locale),
  });
  const buttons: Button[] = isLive(c, now)
    ? [postback(t(locale, 'comments.join'), COMMENT_PAYLOADS.join(commentId))]
    : [];
  if (product) buttons.push(postback(t(locale, 'comments.choose'), shopChoosePayload(product.sku)));
  if (buttons.length === 0) buttons.push(postback(t(locale, 'comments.all_groupbuys'), buildPayload('gb')));
  return buttonTemplate(truncate(body.replace(/\n{3,}/g, '\n\n'), 640), buttons);
}

/** A campaign that no longer takes pledges: say so, and point at the product in the shop. */
export function campaignClosedMessage(
  locale: Locale,
  c: CampaignView,
  product: ProductView | undefined,
): OutgoingMessage {
  const buttons: Button[] = [postback(t(locale, 'comments.all_groupbuys'), buildPayload('gb'))];
  if (product) buttons.unshift(postback(t(locale, 'comments.choose'), shopChoosePayload(product.sku)));
  return buttonTemplate(
    truncate(t(locale, 'comments.closed_text', { title: campaignTitle(c, locale, product) }), 640),
    buttons,
  );
}

/** The product card for a product-linked post: the shop's Choose, and Info (which starts the talk). */
export function productCard(
  config: Pick<Config, 'publicUrl'>,
  locale: Locale,
  product: ProductView,
  commentId: string,
): OutgoingMessage {
  const image = absoluteUrl(config, product.images[0]);
  return carousel([
    {
      title: truncate(localized(product.title, locale) || product.sku, 80),
      subtitle: truncate(
        t(locale, 'comments.product_subtitle', { price: formatMoney(product.price, locale) }),
        80,
      ),
      ...(image ? { imageUrl: image } : {}),
      buttons: [
        postback(t(locale, 'comments.choose'), shopChoosePayload(product.sku)),
        postback(t(locale, 'comments.info'), COMMENT_PAYLOADS.info(commentId)),
      ],
    },
  ]);
}

export function productInfoMessage(locale: Locale, product: ProductView): OutgoingMessage {
  const body = t(locale, 'comments.product_info_text', {
    title: localized(product.title, locale) || product.sku,
    description: localized(product.description, locale),
    price: formatMoney(product.price, locale),
  });
  return buttonTemplate(truncate(body.replace(/\n{3,}/g, '\n\n'), 640), [
    postback(t(locale, 'comments.choose'), shopChoosePayload(product.sku)),
  ]);
}

/** "mancano 7!" / "si parte! 🎉" */
function leftText(p: Progress, locale: Locale): string {
  return p.tipped
    ? t(locale, 'comments.public.tipped')
    : t(locale, 'comments.public.to_tip', { count: p.toTip });
}

/**
 * The public reply under a comment: one of several wordings, picked from the comment id (the same
 * comment always gets the same one; neighbours differ), with the live progress of a campaign.
 */
export function publicReplyText(
  locale: Locale,
  now: Date,
  kind: 'join' | 'info',
  commentId: string,
  campaign: CampaignView | undefined,
): string {
  if (!campaign) {
    return t(locale, `comments.public.product_${pickIndex(commentId, PUBLIC_PRODUCT_TEMPLATES)}`);
  }
  const p = campaignProgress({ now }, campaign);
  const size = kind === 'join' ? PUBLIC_JOIN_TEMPLATES : PUBLIC_INFO_TEMPLATES;
  return t(locale, `comments.public.${kind}_${pickIndex(commentId, size)}`, {
    committed: p.committed,
    target: p.target,
    left: leftText(p, locale),
  });
}

export function tippingPublicText(locale: Locale, now: Date, c: CampaignView, product?: ProductView): string {
  const p = campaignProgress({ now }, c);
  return t(locale, 'comments.public.tipping', {
    committed: p.committed,
    target: p.target,
    title: campaignTitle(c, locale, product),
  });
}
