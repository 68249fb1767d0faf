import {
  confirmCheckout,
  startCheckout,
  type CheckoutChange,
  type CheckoutContext,
  type CheckoutQuote,
} from '../src/app/checkout.js';
import { localized } from '../src/app/catalog.js';
import { fitLines } from '../src/app/orders.js';
import { formatMoney } from '../src/domain/money.js';
import { buildPayload } from '../src/domain/text-match.js';
import {
  buttonTemplate,
  postback,
  quickReplies,
  text,
  truncate,
  urlButton,
} from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';
import { ORDERS_PAYLOADS } from './orders.js';

/**
 * Checkout in the chat: the cart's Checkout button → the order summary with Confirm / Back (or, first,
 * what changed since the fan last looked) → Confirm → the order with its number, total and a Pay
 * button to the payment link. Confirm carries the quote's version: the fan buys exactly what they saw.
 */

export const CHECKOUT_PAYLOADS = {
  start: buildPayload('checkout'),
  confirm: (version: string) => buildPayload('checkout.confirm', [version]),
} as const;

const CART_VIEW = buildPayload('cart');
const SHOP_HOME = buildPayload('shop');

export function checkoutContext(turn: Turn): CheckoutContext {
  return { pageId: turn.pageId, now: turn.now, config: turn.config, log: turn.log };
}

function changeLine(turn: Turn, change: CheckoutChange): string {
  const vars = { title: localized(change.title, turn.locale), variant: change.variantLabel };
  switch (change.type) {
    case 'price':
      return turn.t('shop.checkout.change_price', {
        ...vars,
        before: formatMoney(change.before, turn.locale),
        after: formatMoney(change.after, turn.locale),
      });
    case 'stock':
      return turn.t('shop.checkout.change_stock', { ...vars, count: change.available });
    case 'unavailable':
      return turn.t('shop.checkout.change_unavailable', vars);
  }
}

function sayChanges(turn: Turn, changes: readonly CheckoutChange[]): void {
  if (changes.length === 0) return;
  const lines = [turn.t('shop.checkout.changes'), ...changes.map((c) => changeLine(turn, c))];
  turn.say(text(truncate(lines.join('\n'), 1999)));
}

function sayConfirmPrompt(turn: Turn, quote: CheckoutQuote): void {
  const body = fitLines(
    turn.t('shop.checkout.summary'),
    quote.lines.map((l) =>
      turn.t('shop.checkout.line', {
        qty: l.qty,
        title: localized(l.title, turn.locale),
        variant: l.variantLabel,
        total: formatMoney(l.lineTotal, turn.locale),
      }),
    ),
    turn.t('shop.checkout.total', { total: formatMoney(quote.total, turn.locale) }),
    turn.locale,
  );
  turn.say(
    buttonTemplate(body, [
      postback(turn.t('shop.checkout.confirm'), CHECKOUT_PAYLOADS.confirm(quote.version)),
      postback(turn.t('shop.checkout.back'), CART_VIEW),
    ]),
  );
}

function sayEmpty(turn: Turn): void {
  turn.say(
    quickReplies(turn.t('shop.checkout.empty'), [{ title: turn.t('shop.cart.browse'), payload: SHOP_HOME }]),
  );
}

function sayNothingAvailable(turn: Turn, changes: readonly CheckoutChange[]): void {
  sayChanges(turn, changes);
  turn.say(
    quickReplies(turn.t('shop.checkout.nothing_available'), [
      { title: turn.t('shop.cart.view'), payload: CART_VIEW },
      { title: turn.t('shop.cart.browse'), payload: SHOP_HOME },
    ]),
  );
}

export async function beginCheckout(turn: Turn): Promise<void> {
  const result = await startCheckout(checkoutContext(turn), turn.psid);
  if (result.ok) {
    sayConfirmPrompt(turn, result.quote);
    return;
  }
  switch (result.code) {
    case 'empty_cart':
      return sayEmpty(turn);
    case 'nothing_available':
      return sayNothingAvailable(turn, result.changes);
    case 'prices_changed':
      sayChanges(turn, result.changes);
      sayConfirmPrompt(turn, result.quote);
      return;
  }
}

async function confirm(turn: Turn, version: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(version)) {
    turn.say(text(turn.t('shop.checkout.stale')));
    await beginCheckout(turn);
    return;
  }
  const result = await confirmCheckout(checkoutContext(turn), turn.psid, version);
  if (result.ok) {
    const { order } = result;
    // With invite credit spent: the subtotal and the credit line first, then the order with what is due.
    const discountLines = order.discount
      ? [
          turn.t('shop.checkout.subtotal', { total: formatMoney(order.subtotal, turn.locale) }),
          turn.t('shop.checkout.discount', { amount: formatMoney(order.discount.amount, turn.locale) }),
        ]
      : [];
    turn.say(
      buttonTemplate(
        truncate(
          [
            ...discountLines,
            order.state === 'paid' && order.total.amount === 0
              ? turn.t('shop.checkout.paidByCredit', { number: order.number })
              : turn.t('shop.checkout.created', {
                  number: order.number,
                  total: formatMoney(order.total, turn.locale),
                }),
          ].join('\n'),
          640,
        ),
        [
          ...(order.state === 'pending_payment'
            ? [urlButton(turn.t('shop.checkout.pay'), order.payment.url)]
            : []),
          postback(turn.t('shop.orders.menu'), ORDERS_PAYLOADS.list),
        ],
      ),
    );
    return;
  }
  switch (result.code) {
    case 'stale':
      turn.say(text(turn.t('shop.checkout.stale')));
      await beginCheckout(turn);
      return;
    case 'empty_cart':
      return sayEmpty(turn);
    case 'nothing_available':
      return sayNothingAvailable(turn, result.changes);
    case 'prices_changed':
      sayChanges(turn, result.changes);
      sayConfirmPrompt(turn, result.quote);
      return;
    case 'sold_out':
      turn.say(
        quickReplies(
          turn.t('shop.checkout.sold_out', {
            title: localized(result.line.title, turn.locale),
            variant: result.line.variantLabel,
          }),
          [{ title: turn.t('shop.cart.view'), payload: CART_VIEW }],
        ),
      );
      return;
  }
}

/** Registers checkout; register it before the cart/shop flows. */
export function registerCheckoutFlow(router: FlowRouter): void {
  router
    .payload('checkout', async (turn) => beginCheckout(turn))
    .payload('checkout.confirm', async (turn, p) => confirm(turn, p.args[0] ?? ''));
}
