/**
 * The order lifecycle as a transition table, run by a tiny typed state machine. Pure: no I/O, no
 * clock. The table is the only place that says which moves exist; side effects (stock release,
 * telling the fan) are read from it too, so a new state cannot be added without deciding them.
 *
 *   pending_payment → paid → shipped → delivered
 *   pending_payment → cancelled,  paid → cancelled
 */

export const ORDER_STATES = ['pending_payment', 'paid', 'shipped', 'delivered', 'cancelled'] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export function isOrderState(value: unknown): value is OrderState {
  return typeof value === 'string' && (ORDER_STATES as readonly string[]).includes(value);
}

/** Who moved an order: the fan (demo payment page), a manager or API token, or the system (jobs). */
export interface OrderActor {
  readonly type: 'fan' | 'manager' | 'token' | 'system';
  readonly id?: string | undefined;
  readonly label?: string | undefined;
}

interface TransitionRule {
  /** The fan hears about it (receipt, shipment, delivery, cancellation). */
  readonly notifyFan: boolean;
  /** Units reserved at checkout go back on the shelf. */
  readonly releasesStock: boolean;
}

/** Every allowed move; anything not listed here is forbidden. */
export const ORDER_TRANSITIONS: Readonly<
  Record<OrderState, Readonly<Partial<Record<OrderState, TransitionRule>>>>
> = {
  pending_payment: {
    paid: { notifyFan: true, releasesStock: false },
    cancelled: { notifyFan: true, releasesStock: true },
  },
  paid: {
    shipped: { notifyFan: true, releasesStock: false },
    cancelled: { notifyFan: true, releasesStock: true },
  },
  shipped: {
    delivered: { notifyFan: true, releasesStock: false },
  },
  delivered: {},
  cancelled: {},
};

/** States the fan is told about when an order enters them. */
export const FAN_NOTIFIED_STATES: readonly OrderState[] = ORDER_STATES.filter((to) =>
  ORDER_STATES.some((from) => ORDER_TRANSITIONS[from][to]?.notifyFan === true),
);

export function allowedTransitions(from: OrderState): OrderState[] {
  return ORDER_STATES.filter((to) => ORDER_TRANSITIONS[from][to] !== undefined);
}

export function canTransition(from: OrderState, to: OrderState): boolean {
  return ORDER_TRANSITIONS[from][to] !== undefined;
}

export function isFinal(state: OrderState): boolean {
  return allowedTransitions(state).length === 0;
}

export type TransitionResult =
  | {
      readonly ok: true;
      readonly from: OrderState;
      readonly to: OrderState;
      readonly notifyFan: boolean;
      readonly releasesStock: boolean;
    }
  | {
      readonly ok: false;
      readonly code: 'forbidden_transition';
      readonly from: OrderState;
      readonly to: OrderState;
      /** Where the order may go from `from` (empty for a final state). */
      readonly allowed: readonly OrderState[];
    };

export function transition(from: OrderState, to: OrderState): TransitionResult {
  const rule = ORDER_TRANSITIONS[from][to];
  if (!rule) return { ok: false, code: 'forbidden_transition', from, to, allowed: allowedTransitions(from) };
  return { ok: true, from, to, notifyFan: rule.notifyFan, releasesStock: rule.releasesStock };
}
