import { emptyCart, removeLine, viewCart } from '../src/app/cart.js';
import { localized, variantLabel } from '../src/app/catalog.js';
import { formatMoney } from '../src/domain/money.js';
import { buildPayload } from '../src/domain/text-match.js';
import {
  buttonTemplate,
  carousel,
  postback,
  quickReplies,
  text,
  truncate,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';

export const CART_PAYLOADS = {
  view: buildPayload('cart'),
  remove: (variantSku: string) => buildPayload('cart.remove', [variantSku]),
  empty: buildPayload('cart.empty'),
  checkout: buildPayload('checkout'),
} as const;

export const CART_PHRASES = ['carrello', 'cart', 'basket', 'il mio carrello', 'my cart'];

const SHOP_HOME = buildPayload('shop');
const CAROUSEL_MAX = 10;

function cartContext(turn: Turn) {
  return { pageId: turn.pageId, psid: turn.psid, now: turn.now };
}

/** The cart: one card per line (with "Remove"), then the total with Checkout / Empty / Continue. */
export async function showCart(turn: Turn): Promise<void> {
  const cart = await viewCart(cartContext(turn));
  if (cart.lines.length === 0) {
    turn.say(
      quickReplies(turn.t('shop.cart.empty'), [{ title: turn.t('shop.cart.browse'), payload: SHOP_HOME }]),
    );
    return;
  }
  const cards = cart.lines.slice(0, CAROUSEL_MAX).map((line) => {
    const title = line.product ? localized(line.product.title, turn.locale) : line.sku;
    const subtitle =
      line.variant && line.lineTotal && line.unitPrice
        ? turn.t('shop.cart.line', {
            variant: variantLabel(line.variant),
            qty: line.qty,
            unit: formatMoney(line.unitPrice, turn.locale),
            total: formatMoney(line.lineTotal, turn.locale),
          })
        : turn.t('shop.cart.line_unavailable');
    const image = line.product?.images[0];
    return {
      title: truncate(title, 80),
      subtitle: truncate(subtitle, 80),
      ...(image ? { imageUrl: image.startsWith('/') ? `${turn.config.publicUrl}${image}` : image } : {}),
      buttons: [postback(turn.t('shop.cart.remove'), CART_PAYLOADS.remove(line.sku))],
    };
  });
  turn.say(carousel(cards));
  const short = cart.lines.filter((l) => l.variant && l.available < l.qty);
  if (short.length > 0) turn.say(text(turn.t('shop.cart.stock_changed', { count: short.length })));
  turn.say(
    buttonTemplate(
      turn.t('shop.cart.total', { count: cart.units, total: formatMoney(cart.total, turn.locale) }),
      [
        postback(turn.t('shop.cart.checkout'), CART_PAYLOADS.checkout),
        postback(turn.t('shop.cart.empty_button'), CART_PAYLOADS.empty),
        postback(turn.t('shop.continue'), SHOP_HOME),
      ],
    ),
  );
}

export function registerCartFlow(
  router: FlowRouter,
  deps: {
    showCart: (turn: Turn) => Promise<void>;
    discloseIfNew: (turn: Turn) => void;
    continuePayload: string;
  },
): void {
  router
    .payload('cart', async (turn) => deps.showCart(turn))
    .payload('cart.remove', async (turn, p) => {
      await removeLine(cartContext(turn), p.args[0] ?? '');
      turn.say(text(turn.t('shop.cart.removed')));
      await deps.showCart(turn);
    })
    .payload('cart.empty', async (turn) => {
      await emptyCart(cartContext(turn));
      turn.say(
        quickReplies(turn.t('shop.cart.emptied'), [
          { title: turn.t('shop.cart.browse'), payload: deps.continuePayload },
        ]),
      );
    })
    // The Checkout button's payload (`checkout:v1`) is handled by flows/checkout.ts.
    .text(CART_PHRASES, async (turn) => {
      deps.discloseIfNew(turn);
      await deps.showCart(turn);
    });
}
