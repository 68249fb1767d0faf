import type { Locale } from '../config/index.js';
import { t } from '../i18n/index.js';
import { truncate } from '../messenger/builders.js';
import { buyersCount, ratingSummary, recentQuote, type Quote, type RatingSummary } from './reviews.js';

/**
 * True social proof for a product: the average of verified ratings and their count, how many fans
 * bought it (paid, shipped or delivered orders), and the latest visible sentence (with the buyer's
 * first name only if they allowed it). Everything is read from the data at the moment; nothing is
 * rounded up or invented. `text` is null when there is nothing true to say yet.
 */

export interface SocialProof {
  readonly text: string | null;
  readonly rating: RatingSummary;
  readonly buyers: number;
  readonly quote: Quote | null;
}

const QUOTE_MAX = 40;

export function formatAverage(average: number, locale: Locale): string {
  return new Intl.NumberFormat(locale === 'it' ? 'it-IT' : 'en-GB', {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(average);
}

/** The sentence from figures (pure: the tests compare it with the data). */
export function socialProofText(
  figures: { readonly rating: RatingSummary; readonly buyers: number; readonly quote: Quote | null },
  locale: Locale,
): string | null {
  const parts: string[] = [];
  if (figures.rating.count > 0 && figures.rating.average !== null)
    parts.push(
      t(locale, 'codesign.proof.rating', {
        average: formatAverage(figures.rating.average, locale),
        count: figures.rating.count,
      }),
    );
  if (figures.buyers > 0) parts.push(t(locale, 'codesign.proof.bought', { count: figures.buyers }));
  if (figures.quote) {
    const quote = truncate(figures.quote.text.replace(/\s+/g, ' '), QUOTE_MAX);
    parts.push(
      figures.quote.name
        ? t(locale, 'codesign.proof.quote_named', { quote, name: figures.quote.name })
        : t(locale, 'codesign.proof.quote', { quote }),
    );
  }
  return parts.length > 0 ? parts.join(' · ') : null;
}

export async function socialProofFor(
  ctx: { readonly pageId: string },
  productSku: string,
  locale: Locale,
): Promise<SocialProof> {
  const [rating, buyers, quote] = await Promise.all([
    ratingSummary(ctx, productSku),
    buyersCount(ctx, productSku),
    recentQuote(ctx, productSku),
  ]);
  return { text: socialProofText({ rating, buyers, quote }, locale), rating, buyers, quote };
}

/** A card subtitle: the card's own line, then the proof, within the 80 characters Meta allows. */
export function withProof(subtitle: string, proof: string | null, max = 80): string {
  return truncate(proof ? (subtitle ? `${subtitle}\n${proof}` : proof) : subtitle, max);
}
