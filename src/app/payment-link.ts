import type { Config } from '../config/index.js';
import { toDecimalString, type Money } from '../domain/money.js';

/**
 * Where a fan pays for an order. A strategy interface with the built-in default in the same file
 * (as Vendure does for its order-code strategy): the built-in order page `/orders/<token>` (with a
 * demo "mark as paid" button), or a merchant's own checkout through `PAYMENT_URL_TEMPLATE`.
 */

export interface PayableOrder {
  readonly number: string;
  readonly token: string;
  readonly total: Money;
}

export interface PaymentLinkStrategy {
  /** Stored on the order (`payment.strategy`). */
  readonly name: 'order_page' | 'url_template';
  /** True when payment happens on our own order page (so its demo "mark as paid" may be offered). */
  readonly builtIn: boolean;
  linkFor(order: PayableOrder): string;
}

export function orderPageUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/$/, '')}/orders/${encodeURIComponent(token)}`;
}

/** The default: the server-rendered order page of this bot. */
export class OrderPagePaymentStrategy implements PaymentLinkStrategy {
  readonly name = 'order_page' as const;
  readonly builtIn = true;
  constructor(private readonly publicUrl: string) {}
  linkFor(order: PayableOrder): string {
    return orderPageUrl(this.publicUrl, order.token);
  }
}

/** Placeholders a template may use; each value is URL-encoded. */
export const PAYMENT_TEMPLATE_PLACEHOLDERS = ['number', 'token', 'amount', 'currency'] as const;

/** A merchant's checkout: `https://shop.example/pay?order={number}&token={token}`. */
export class UrlTemplatePaymentStrategy implements PaymentLinkStrategy {
  readonly name = 'url_template' as const;
  readonly builtIn = false;
  constructor(private readonly template: string) {
    const problem = paymentTemplateProblem(template);
    if (problem) throw new Error(`PAYMENT_URL_TEMPLATE ${problem}`);
  }
  linkFor(order: PayableOrder): string {
    const values: Record<(typeof PAYMENT_TEMPLATE_PLACEHOLDERS)[number], string> = {
      number: order.number,
      token: order.token,
      amount: toDecimalString(order.total),
      currency: order.total.currency,
    };
    return this.template.replace(/\{(number|token|amount|currency)\}/g, (_m, name: keyof typeof values) =>
      encodeURIComponent(values[name]),
    );
  }
}

/** Why a template is unusable, or undefined when it is fine (used by the config schema too). */
export function paymentTemplateProblem(template: string): string | undefined {
  if (!/\{(token|number)\}/.test(template)) return 'must contain {token} or {number}';
  const sample = template.replace(/\{(number|token|amount|currency)\}/g, 'x');
  try {
    const url = new URL(sample);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
  return undefined;
}

export function paymentStrategyFor(
  config: Pick<Config, 'publicUrl' | 'paymentUrlTemplate'>,
): PaymentLinkStrategy {
  return config.paymentUrlTemplate
    ? new UrlTemplatePaymentStrategy(config.paymentUrlTemplate)
    : new OrderPagePaymentStrategy(config.publicUrl);
}
