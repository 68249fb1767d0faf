import { listFanOrders, orderStateLabel } from '../src/app/orders.js';
import { formatMoney } from '../src/domain/money.js';
import { buildPayload } from '../src/domain/text-match.js';
import { orderPageUrl } from '../src/app/payment-link.js';
import { carousel, quickReplies, text, truncate, urlButton } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';

/** "My orders": the fan's recent orders as cards, each with its state and a link to its page. */

export const ORDERS_PAYLOADS = {
  list: buildPayload('orders'),
} as const;

export const ORDERS_PHRASES = [
  'i miei ordini',
  'miei ordini',
  'ordini',
  'il mio ordine',
  'stato ordine',
  'my orders',
  'orders',
  'my order',
  'order status',
];

const SHOWN = 10;

export async function showOrders(turn: Turn): Promise<void> {
  const orders = await listFanOrders(turn, turn.psid, SHOWN);
  if (orders.length === 0) {
    turn.say(
      quickReplies(turn.t('shop.orders.none'), [
        { title: turn.t('shop.cart.browse'), payload: buildPayload('shop') },
      ]),
    );
    return;
  }
  const date = new Intl.DateTimeFormat(turn.locale === 'it' ? 'it-IT' : 'en-IE', {
    day: 'numeric',
    month: 'short',
    timeZone: 'Europe/Rome',
  });
  turn.say(text(turn.t('shop.orders.list_intro')));
  turn.say(
    carousel(
      orders.map((order) => ({
        title: truncate(turn.t('shop.orders.card_title', { number: order.number }), 80),
        subtitle: truncate(
          turn.t('shop.orders.card_subtitle', {
            state: orderStateLabel(order.state, turn.locale),
            total: formatMoney(order.total, turn.locale),
            date: date.format(order.createdAt),
          }),
          80,
        ),
        buttons: [
          urlButton(turn.t('shop.orders.view'), orderPageUrl(turn.config.publicUrl, order.token)),
          ...(order.state === 'pending_payment' && order.payment.strategy !== 'order_page'
            ? [urlButton(turn.t('shop.checkout.pay'), order.payment.url)]
            : []),
        ],
      })),
    ),
  );
}

export function registerOrdersFlow(router: FlowRouter): void {
  router.payload('orders', async (turn) => showOrders(turn)).text(ORDERS_PHRASES, showOrders);
}
