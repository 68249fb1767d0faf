/**
 * Money as an integer number of minor units (cents) and an ISO 4217 currency. No floats anywhere:
 * arithmetic is on safe integers, parsing and formatting go through decimal strings.
 */
import type { Locale } from '../config/index.js';

export interface Money {
  /** Minor units (cents for EUR), a safe integer. */
  readonly amount: number;
  /** ISO 4217 code, upper case (`EUR`). */
  readonly currency: string;
}

export class MoneyError extends Error {
  override readonly name = 'MoneyError';
}

const CURRENCY = /^[A-Z]{3}$/;
const digitsCache = new Map<string, number>();

/** Minor-unit digits of a currency (EUR 2, JPY 0, BHD 3), from the platform's ICU data. */
export function minorDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    d =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2;
    digitsCache.set(currency, d);
  }
  return d;
}

export function isCurrency(code: string): boolean {
  if (!CURRENCY.test(code)) return false;
  try {
    return Intl.supportedValuesOf('currency').includes(code);
  } catch {
    return true;
  }
}

export function money(amount: number, currency: string): Money {
  if (!Number.isSafeInteger(amount))
    throw new MoneyError(`amount must be an integer of minor units: ${amount}`);
  if (!CURRENCY.test(currency)) throw new MoneyError(`currency must be an ISO 4217 code: ${currency}`);
  return { amount, currency };
}

export function zero(currency: string): Money {
  return money(0, currency);
}

function checked(n: number): number {
  if (!Number.isSafeInteger(n)) throw new MoneyError(`amount overflows a safe integer: ${n}`);
  return n;
}

export function add(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new MoneyError(`cannot add ${a.currency} and ${b.currency}`);
  return money(checked(a.amount + b.amount), a.currency);
}

export function subtract(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new MoneyError(`cannot subtract ${b.currency} from ${a.currency}`);
  return money(checked(a.amount - b.amount), a.currency);
}

/** `m × quantity`; the quantity must be an integer (prices per unit times a number of units). */
export function multiply(m: Money, quantity: number): Money {
  if (!Number.isSafeInteger(quantity)) throw new MoneyError(`quantity must be an integer: ${quantity}`);
  return money(checked(m.amount * quantity), m.currency);
}

export function sum(items: readonly Money[], currency: string): Money {
  return items.reduce((acc, m) => add(acc, m), zero(currency));
}

export function equals(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

/** The amount as an exact decimal string (`4990` EUR → `"49.90"`, `-5` → `"-0.05"`). */
export function toDecimalString(m: Money): string {
  const digits = minorDigits(m.currency);
  const negative = m.amount < 0;
  const abs = String(Math.abs(m.amount)).padStart(digits + 1, '0');
  const whole = abs.slice(0, abs.length - digits);
  const frac = abs.slice(abs.length - digits);
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${frac}` : ''}`;
}

const formatters = new Map<string, Intl.NumberFormat>();
const INTL_LOCALE: Record<Locale, string> = { it: 'it-IT', en: 'en-IE' };

/**
 * Formats for people: it → `49,90 €`, en → `€49.90`. The separator before `€` in Italian is a
 * no-break space (U+00A0), so the symbol never wraps onto its own line. The number is handed to
 * Intl as an exact decimal string, never as a float.
 */
export function formatMoney(m: Money, locale: Locale): string {
  const key = `${locale}:${m.currency}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.NumberFormat(INTL_LOCALE[locale], { style: 'currency', currency: m.currency });
    formatters.set(key, f);
  }
  // Intl accepts exact decimal strings (ES2023); the cast covers older lib typings.
  return f.format(toDecimalString(m) as unknown as number);
}

/**
 * Parses a price as people write it — `"49.90"`, `"49,90"`, `"49"`, `"1.234,56"`, `"1,234.56"` — into
 * minor units without floats. Returns undefined for anything ambiguous or malformed (`"1,234"`
 * could be either; more decimals than the currency has; negative numbers; exponents).
 */
export function parseAmount(input: string, currency: string): number | undefined {
  const s = input.trim().replace(/\s|\u00a0/g, '');
  const digits = minorDigits(currency);
  let whole: string;
  let frac = '';
  const both = /^(\d{1,3}(?:([.,])\d{3})+)([.,])(\d+)$/.exec(s);
  if (both && both[2] !== both[3]) {
    whole = both[1]!.replace(/[.,]/g, '');
    frac = both[4]!;
  } else {
    const simple = /^(\d+)(?:[.,](\d+))?$/.exec(s);
    if (!simple) return undefined;
    whole = simple[1]!;
    frac = simple[2] ?? '';
  }
  if (frac.length > digits) return undefined;
  if (digits > 0 && frac.length === 0 && /[.,]$/.test(s)) return undefined;
  const amount = Number(whole + frac.padEnd(digits, '0'));
  return Number.isSafeInteger(amount) ? amount : undefined;
}
