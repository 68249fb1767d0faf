import { z } from 'zod';
import { recordAudit } from '../../app/audit.js';
import { getOrder, listOrders, transitionOrder, type OrderView } from '../../app/orders.js';
import { ORDER_STATES } from '../../domain/order-state.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor, pageOf, pageQueryShape } from '../pagination.js';
import { idParams, psid } from '../schemas.js';

/**
 * Orders for managers: list (by state, cursor), one order, and moving it along its lifecycle. Every
 * move goes through `transitionOrder`, so the transition table decides (409 otherwise), the fan is
 * told in their language and stock comes back on a cancellation before shipping.
 */

const TAG = 'orders';

const moneySchema = z.object({ amount: z.number(), currency: z.string() });
const localizedOut = z.object({ it: z.string(), en: z.string() });

const orderSchema = z.object({
  id: z.string(),
  number: z.string(),
  psid: z.string(),
  state: z.enum(ORDER_STATES),
  lines: z.array(
    z.object({
      sku: z.string(),
      variantSku: z.string(),
      title: localizedOut,
      variantLabel: z.string(),
      unitPrice: moneySchema,
      qty: z.number(),
      lineTotal: moneySchema,
    }),
  ),
  units: z.number(),
  total: moneySchema,
  history: z.array(
    z.object({
      from: z.enum(ORDER_STATES).nullable(),
      to: z.enum(ORDER_STATES),
      at: z.date(),
      by: z.object({ type: z.string(), id: z.string().nullable(), label: z.string().nullable() }),
    }),
  ),
  source: z.object({ type: z.string(), cartId: z.string().nullable(), campaignId: z.string().nullable() }),
  payment: z.object({ strategy: z.string(), url: z.string() }),
  stockReserved: z.boolean(),
  stockReleasedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

function out(o: OrderView): z.input<typeof orderSchema> {
  return {
    id: o.id,
    number: o.number,
    psid: o.psid,
    state: o.state,
    lines: o.lines.map((l) => ({ ...l, title: { ...l.title } })),
    units: o.units,
    total: o.total,
    history: o.history.map((h) => ({
      from: h.from,
      to: h.to,
      at: h.at,
      by: { type: h.by.type, id: h.by.id ?? null, label: h.by.label ?? null },
    })),
    source: { type: o.source.type, cartId: o.source.cartId ?? null, campaignId: o.source.campaignId ?? null },
    payment: o.payment,
    stockReserved: o.stockReserved,
    stockReleasedAt: o.stockReleasedAt ?? null,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}

/** The states a manager may move an order to (the table still decides from where). */
const MANAGER_TARGETS = ['paid', 'shipped', 'delivered', 'cancelled'] as const;

export const orderRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/orders',
    tag: TAG,
    summary: 'List orders, newest first, optionally by state or fan',
    role: 'viewer',
    query: z.object({ state: z.enum(ORDER_STATES).optional(), psid: psid.optional(), ...pageQueryShape }),
    response: pageOf(orderSchema),
    handler: async (ctx, { query }) => {
      let after: { createdAt: Date; id: ReturnType<typeof decodeCursor>['id'] } | undefined;
      if (query.cursor) {
        const c = decodeCursor(query.cursor);
        if (!(c.key instanceof Date))
          throw new AdminError('validation', 'Invalid cursor', null, 'invalid_cursor');
        after = { createdAt: c.key, id: c.id };
      }
      const page = await listOrders(ctx, {
        state: query.state,
        psid: query.psid,
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        after,
      });
      return {
        items: page.items.map(out),
        nextCursor: page.next ? encodeCursor(page.next.createdAt, page.next.id) : null,
      };
    },
  }),

  route({
    method: 'get',
    path: '/orders/:id',
    tag: TAG,
    summary: 'One order with its lines and history',
    role: 'viewer',
    params: idParams,
    response: orderSchema,
    handler: async (ctx, { params }) => {
      const order = await getOrder(ctx, params.id);
      if (!order) throw notFound('order', params.id);
      return out(order);
    },
  }),

  route({
    method: 'post',
    path: '/orders/:id/transition',
    tag: TAG,
    summary: 'Move an order: paid, shipped, delivered or cancelled (409 if its state does not allow it)',
    description:
      'pending_payment → paid → shipped → delivered; pending_payment or paid → cancelled (reserved stock ' +
      'goes back). The fan is told in their language (tagged POST_PURCHASE_UPDATE outside the 24 h window).',
    role: 'manager',
    params: idParams,
    body: z.object({ to: z.enum(MANAGER_TARGETS) }),
    response: orderSchema,
    handler: async (ctx, { params, body }) => {
      const result = await transitionOrder(ctx, params.id, body.to, {
        type: ctx.actor.kind === 'token' ? 'token' : 'manager',
        id: ctx.actor.id,
        label: ctx.actor.label,
      });
      if (!result.ok) {
        if (result.code === 'not_found') throw notFound('order', params.id);
        throw new AdminError(
          'conflict',
          `order ${result.order.number} is ${result.from}: it cannot become ${result.to}`,
          { from: result.from, to: result.to, allowed: result.allowed },
          'forbidden_transition',
        );
      }
      await recordAudit(ctx, {
        action: 'order.transition',
        target: { type: 'order', id: result.order.id },
        before: { state: result.from, number: result.order.number },
        after: { state: result.to },
      });
      return out(result.order);
    },
  }),
];
