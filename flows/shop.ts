import {
  listCategories,
  listProducts,
  localized,
  getProduct,
  findVariant,
  searchProducts,
  variantLabel,
  variantPrice,
  type CategoryView,
  type ProductView,
} from '../src/app/catalog.js';
import { addToCart } from '../src/app/cart.js';
import { socialProofFor, withProof } from '../src/app/social-proof.js';
import { formatMoney } from '../src/domain/money.js';
import { buildPayload, containsPhrase, normalizeText } from '../src/domain/text-match.js';
import {
  buttonTemplate,
  carousel,
  postback,
  quickReplies,
  text,
  truncate,
  urlButton,
  type CarouselElementInput,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';
import { CART_PAYLOADS, registerCartFlow, showCart } from './cart.js';

/** Payloads of the shop. SKUs never contain ":" (the importer refuses them). */
export const SHOP_PAYLOADS = {
  home: buildPayload('shop'),
  category: (slug: string, after?: string) => buildPayload('shop.cat', after ? [slug, after] : [slug]),
  product: (sku: string) => buildPayload('shop.product', [sku]),
  details: (sku: string) => buildPayload('shop.details', [sku]),
  variant: (variantSku: string) => buildPayload('shop.variant', [variantSku]),
  quantity: (variantSku: string, qty: number) => buildPayload('shop.qty', [variantSku, String(qty)]),
} as const;

const CAROUSEL_MAX = 10;
const QUICK_REPLIES_MAX = 13;
const MAX_QTY_CHOICES = 5;

export const SHOP_PHRASES = ['shop', 'negozio', 'catalogo', 'catalog', 'shopping'];
export const SEARCH_PHRASES = ['cerca', 'cerco', 'search', 'trova'];

/** Product images may be paths on this server (the demo catalogue): Messenger needs absolute URLs. */
function absoluteUrl(turn: Turn, url: string | undefined): string | undefined {
  if (!url) return undefined;
  return url.startsWith('/') ? `${turn.config.publicUrl}${url}` : url;
}

/** A fan whose first message is "shop" still hears that they talk to an automated assistant. */
function discloseIfNew(turn: Turn): void {
  if (!turn.fan.isNew) return;
  turn.say(
    buttonTemplate(turn.t('greeting.disclosure'), [
      urlButton(turn.t('greeting.privacy'), turn.config.privacyPolicyUrl),
    ]),
  );
}

function priceLabel(turn: Turn, product: ProductView): string {
  const prices = product.variants.map((v) => variantPrice(product, v).amount);
  const min = Math.min(product.price.amount, ...prices);
  const formatted = formatMoney({ amount: min, currency: product.price.currency }, turn.locale);
  return min < Math.max(product.price.amount, ...prices)
    ? turn.t('shop.price_from', { price: formatted })
    : formatted;
}

function inStock(product: ProductView) {
  return product.variants.filter((v) => v.stock > 0);
}

function productCard(turn: Turn, product: ProductView, proof: string | null = null): CarouselElementInput {
  const soldOut = inStock(product).length === 0;
  const subtitle = [priceLabel(turn, product), soldOut ? turn.t('shop.sold_out_short') : '']
    .filter(Boolean)
    .join(' · ');
  const image = absoluteUrl(turn, product.images[0]);
  return {
    title: truncate(localized(product.title, turn.locale), 80),
    subtitle: withProof(subtitle, proof),
    ...(image ? { imageUrl: image } : {}),
    buttons: [
      postback(turn.t('shop.choose'), SHOP_PAYLOADS.product(product.sku)),
      postback(turn.t('shop.details'), SHOP_PAYLOADS.details(product.sku)),
    ],
  };
}

/** Cards with true social proof (ratings of verified buyers, buyers, a quote) under the price. */
async function productCards(turn: Turn, products: readonly ProductView[]): Promise<CarouselElementInput[]> {
  return Promise.all(
    products.map(async (p) => productCard(turn, p, (await socialProofFor(turn, p.sku, turn.locale)).text)),
  );
}

export async function showCategories(turn: Turn): Promise<void> {
  const categories = await listCategories(turn);
  if (categories.length === 0) {
    turn.say(text(turn.t('shop.empty')));
    return;
  }
  const replies = categories.slice(0, QUICK_REPLIES_MAX - 1).map((c) => ({
    title: truncate(localized(c.name, turn.locale), 20),
    payload: SHOP_PAYLOADS.category(c.slug),
  }));
  replies.push({ title: truncate(turn.t('shop.cart.title'), 20), payload: CART_PAYLOADS.view });
  turn.say(quickReplies(turn.t('shop.categories_prompt'), replies));
}

export async function showCategory(turn: Turn, slug: string, after?: string): Promise<void> {
  const page = await listProducts(turn, { category: slug, after, limit: CAROUSEL_MAX });
  if (page.items.length === 0) {
    turn.say(text(turn.t('shop.category_empty')));
    await showCategories(turn);
    return;
  }
  if (page.next) {
    // Ten cards at most: nine products and a "more" card.
    const shown = page.items.slice(0, CAROUSEL_MAX - 1);
    const last = shown[shown.length - 1]!;
    turn.say(
      carousel([
        ...(await productCards(turn, shown)),
        {
          title: turn.t('shop.more_title'),
          subtitle: turn.t('shop.more_subtitle'),
          buttons: [postback(turn.t('shop.more'), SHOP_PAYLOADS.category(slug, last.sku))],
        },
      ]),
    );
    return;
  }
  turn.say(carousel(await productCards(turn, page.items)));
}

async function showResults(turn: Turn, products: readonly ProductView[]): Promise<void> {
  turn.say(text(turn.t('shop.search_results', { count: products.length })));
  turn.say(carousel(await productCards(turn, products.slice(0, CAROUSEL_MAX))));
}

async function chooseProduct(turn: Turn, sku: string): Promise<void> {
  const product = await getProduct(turn, sku);
  if (!product || !product.active) {
    turn.say(text(turn.t('shop.stale')));
    await showCategories(turn);
    return;
  }
  const available = inStock(product);
  if (available.length === 0) {
    turn.say(text(turn.t('shop.sold_out', { title: localized(product.title, turn.locale) })));
    await showCategory(turn, product.category.slug);
    return;
  }
  const replies = available.slice(0, QUICK_REPLIES_MAX).map((v) => {
    const label =
      v.priceOverride !== undefined && v.priceOverride !== product.price.amount
        ? `${variantLabel(v)} ${formatMoney(variantPrice(product, v), turn.locale)}`
        : variantLabel(v);
    return { title: truncate(label, 20), payload: SHOP_PAYLOADS.variant(v.sku) };
  });
  turn.say(
    quickReplies(turn.t('shop.choose_variant', { title: localized(product.title, turn.locale) }), replies),
  );
}

async function showDetails(turn: Turn, sku: string): Promise<void> {
  const product = await getProduct(turn, sku);
  if (!product || !product.active) {
    turn.say(text(turn.t('shop.stale')));
    await showCategories(turn);
    return;
  }
  const title = localized(product.title, turn.locale);
  const description = localized(product.description, turn.locale);
  const sizes = inStock(product).map((v) => variantLabel(v));
  const body = [
    `${title} — ${priceLabel(turn, product)}`,
    description,
    sizes.length > 0
      ? turn.t('shop.available', { variants: sizes.join(', ') })
      : turn.t('shop.sold_out_short'),
  ]
    .filter(Boolean)
    .join('\n\n');
  turn.say(
    buttonTemplate(truncate(body, 640), [
      postback(turn.t('shop.choose'), SHOP_PAYLOADS.product(product.sku)),
      postback(turn.t('shop.back'), SHOP_PAYLOADS.category(product.category.slug)),
    ]),
  );
}

async function chooseVariant(turn: Turn, variantSku: string): Promise<void> {
  const found = await findVariant(turn, variantSku);
  if (!found || !found.product.active) {
    turn.say(text(turn.t('shop.stale')));
    await showCategories(turn);
    return;
  }
  const { product, variant } = found;
  if (variant.stock <= 0) {
    turn.say(text(turn.t('shop.variant_sold_out')));
    await chooseProduct(turn, product.sku);
    return;
  }
  const max = Math.min(MAX_QTY_CHOICES, variant.stock);
  turn.say(
    quickReplies(
      turn.t('shop.choose_quantity', {
        title: localized(product.title, turn.locale),
        variant: variantLabel(variant),
        price: formatMoney(variantPrice(product, variant), turn.locale),
      }),
      Array.from({ length: max }, (_, i) => ({
        title: String(i + 1),
        payload: SHOP_PAYLOADS.quantity(variant.sku, i + 1),
      })),
    ),
  );
}

async function chooseQuantity(turn: Turn, variantSku: string, qty: number): Promise<void> {
  if (!Number.isSafeInteger(qty) || qty < 1 || qty > MAX_QTY_CHOICES) {
    turn.say(text(turn.t('shop.stale')));
    return;
  }
  const result = await addToCart({ pageId: turn.pageId, psid: turn.psid, now: turn.now }, variantSku, qty);
  if (!result.ok) {
    if (result.code === 'out_of_stock') {
      turn.say(text(turn.t('shop.cart.out_of_stock', { count: result.available })));
      if (result.available > 0) await chooseVariant(turn, variantSku);
    } else if (result.code === 'too_many') {
      turn.say(text(turn.t('shop.cart.too_many', { max: result.max })));
    } else {
      turn.say(text(turn.t('shop.stale')));
      await showCategories(turn);
    }
    return;
  }
  const found = await findVariant(turn, variantSku);
  turn.say(
    buttonTemplate(
      turn.t('shop.cart.added', {
        count: qty,
        title: found ? localized(found.product.title, turn.locale) : variantSku,
        variant: found ? variantLabel(found.variant) : '',
      }),
      [
        postback(turn.t('shop.cart.view'), CART_PAYLOADS.view),
        postback(turn.t('shop.continue'), SHOP_PAYLOADS.home),
      ],
    ),
  );
}

function categoryNamed(categories: readonly CategoryView[], words: string): CategoryView | undefined {
  const n = normalizeText(words);
  if (!n) return undefined;
  return categories.find(
    (c) =>
      normalizeText(c.name.it) === n ||
      normalizeText(c.name.en) === n ||
      normalizeText(c.slug.replace(/-/g, ' ')) === n,
  );
}

/** Words after the first occurrence of one of the phrases ("cerca jeans neri" → "jeans neri"). */
function wordsAfter(input: string, phrases: readonly string[]): string {
  const words = normalizeText(input).split(' ');
  const i = words.findIndex((w) => phrases.some((p) => normalizeText(p) === w));
  return i < 0 ? '' : words.slice(i + 1).join(' ');
}

/**
 * Typed text the shop understands: a category's name ("jeans", "giacche") or words that match
 * products. Returns false (having said nothing) otherwise. For the start flow's fallback, which is
 * the only place that sees arbitrary text: `if (await handleShopText(turn)) return;`.
 */
export async function handleShopText(turn: Turn): Promise<boolean> {
  if (turn.input.type !== 'text') return false;
  const typed = turn.input.text;
  if (normalizeText(typed).length < 3 || typed.length > 200) return false;
  const category = categoryNamed(await listCategories(turn), typed);
  if (category) {
    await showCategory(turn, category.slug);
    return true;
  }
  const found = await searchProducts(turn, typed, { limit: CAROUSEL_MAX });
  if (found.length === 0) return false;
  discloseIfNew(turn);
  await showResults(turn, found);
  return true;
}

async function search(turn: Turn, query: string): Promise<void> {
  const categories = await listCategories(turn);
  const category = categoryNamed(categories, query);
  if (category) {
    await showCategory(turn, category.slug);
    return;
  }
  const found = query ? await searchProducts(turn, query, { limit: CAROUSEL_MAX }) : [];
  if (found.length > 0) {
    await showResults(turn, found);
    return;
  }
  turn.say(
    text(query ? turn.t('shop.no_results', { query: truncate(query, 60) }) : turn.t('shop.search_hint')),
  );
  await showCategories(turn);
}

/**
 * Registers the shop (catalogue browsing, search) and the cart. Register it before the start flow:
 * the router tries routes in order and the start flow owns the fallback.
 */
export function registerShopFlow(router: FlowRouter): void {
  router
    .payload('shop', async (turn) => showCategories(turn))
    .payload('shop.cat', async (turn, p) => showCategory(turn, p.args[0] ?? '', p.args[1]))
    .payload('shop.product', async (turn, p) => chooseProduct(turn, p.args[0] ?? ''))
    .payload('shop.details', async (turn, p) => showDetails(turn, p.args[0] ?? ''))
    .payload('shop.variant', async (turn, p) => chooseVariant(turn, p.args[0] ?? ''))
    .payload('shop.qty', async (turn, p) => chooseQuantity(turn, p.args[0] ?? '', Number(p.args[1])))
    .text(
      SEARCH_PHRASES,
      async (turn) => {
        discloseIfNew(turn);
        await search(turn, turn.input.type === 'text' ? wordsAfter(turn.input.text, SEARCH_PHRASES) : '');
      },
      'contains',
    )
    .text(
      SHOP_PHRASES,
      async (turn) => {
        discloseIfNew(turn);
        const rest = turn.input.type === 'text' ? wordsAfter(turn.input.text, SHOP_PHRASES) : '';
        if (rest && !containsPhrase(rest, SHOP_PHRASES)) await search(turn, rest);
        else await showCategories(turn);
      },
      'contains',
    )
    // A product or category typed without a keyword ("jeans neri"): tried after every other text route.
    .freeText('catalogue', handleShopText);
  registerCartFlow(router, { showCart, discloseIfNew, continuePayload: SHOP_PAYLOADS.home });
}
