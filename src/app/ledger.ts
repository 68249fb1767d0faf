import { Types } from 'mongoose';
import { LedgerEntryModel, type LedgerEntryDoc, type LedgerKind } from '../db/models/ledger-entry.js';

/**
 * The rewards ledger (src/db/models/ledger-entry.ts): append-only entries with unique idempotency
 * keys, balances derived by summing them. No multi-document transactions anywhere: an append either
 * happens once or is a no-op, and a spend that would overdraw is undone by a compensating entry.
 */

export interface LedgerContext {
  readonly pageId: string;
  readonly now: Date;
}

export interface LedgerAppend {
  readonly psid: string;
  readonly kind: LedgerKind;
  /** Signed integer (earn > 0, spend < 0, reverse = −what it undoes, adjust ±). */
  readonly amount: number;
  readonly unit: string;
  readonly idempotencyKey: string;
  readonly reason: string;
  readonly orderId?: string | null | undefined;
  readonly referralId?: string | null | undefined;
  readonly campaignId?: string | null | undefined;
  readonly reverses?: string | null | undefined;
  readonly by?: string | undefined;
}

export interface LedgerEntryView {
  readonly id: string;
  readonly psid: string;
  readonly kind: LedgerKind;
  readonly amount: number;
  readonly unit: string;
  readonly orderId: string | null;
  readonly referralId: string | null;
  readonly campaignId: string | null;
  readonly reverses: string | null;
  readonly reason: string;
  readonly by: string;
  readonly idempotencyKey: string;
  readonly at: Date;
}

export function toLedgerView(doc: LedgerEntryDoc): LedgerEntryView {
  return {
    id: String(doc._id),
    psid: doc.psid,
    kind: doc.kind as LedgerKind,
    amount: doc.amount,
    unit: doc.unit,
    orderId: doc.orderId ?? null,
    referralId: doc.referralId ? String(doc.referralId) : null,
    campaignId: doc.campaignId ?? null,
    reverses: doc.reverses ?? null,
    reason: doc.reason,
    by: doc.by ?? 'system',
    idempotencyKey: doc.idempotencyKey,
    at: doc.at,
  };
}

const DUPLICATE_KEY = 11000;

export class LedgerInputError extends Error {
  override readonly name = 'LedgerInputError';
}

/**
 * Appends one entry; `created: false` when an entry with that key already exists (it is returned
 * instead). Two concurrent appends under one key: exactly one is written.
 */
export async function appendEntry(
  ctx: LedgerContext,
  entry: LedgerAppend,
): Promise<{ readonly created: boolean; readonly entry: LedgerEntryView }> {
  if (!Number.isSafeInteger(entry.amount))
    throw new LedgerInputError(`amount must be an integer: ${entry.amount}`);
  if (!/^([A-Z]{3}|points)$/.test(entry.unit)) throw new LedgerInputError(`bad unit: ${entry.unit}`);
  if (entry.idempotencyKey.length === 0) throw new LedgerInputError('an entry needs an idempotency key');
  const doc = {
    _id: new Types.ObjectId(),
    pageId: String(ctx.pageId),
    psid: String(entry.psid),
    kind: entry.kind,
    amount: entry.amount,
    unit: entry.unit,
    orderId: entry.orderId ?? null,
    referralId: entry.referralId ? new Types.ObjectId(entry.referralId) : null,
    campaignId: entry.campaignId ?? null,
    reverses: entry.reverses ?? null,
    reason: entry.reason,
    by: entry.by ?? 'system',
    idempotencyKey: entry.idempotencyKey,
    at: ctx.now,
  };
  try {
    await LedgerEntryModel.collection.insertOne(doc);
    return { created: true, entry: toLedgerView(doc as unknown as LedgerEntryDoc) };
  } catch (error) {
    if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    const existing = await findEntry(entry.idempotencyKey);
    if (!existing) throw error;
    return { created: false, entry: existing };
  }
}

export async function findEntry(idempotencyKey: string): Promise<LedgerEntryView | undefined> {
  const doc = await LedgerEntryModel.findOne({
    idempotencyKey: String(idempotencyKey),
  }).lean<LedgerEntryDoc>();
  return doc ? toLedgerView(doc) : undefined;
}

/** A fan's balance per unit (`{EUR: 500, points: 20}`), summed from the ledger. */
export async function balances(
  ctx: Pick<LedgerContext, 'pageId'>,
  psid: string,
): Promise<Record<string, number>> {
  const rows = await LedgerEntryModel.aggregate<{ _id: string; total: number }>([
    { $match: { pageId: String(ctx.pageId), psid: String(psid) } },
    { $group: { _id: '$unit', total: { $sum: '$amount' } } },
  ]);
  const out: Record<string, number> = {};
  for (const r of rows) out[r._id] = r.total;
  return out;
}

export async function balance(
  ctx: Pick<LedgerContext, 'pageId'>,
  psid: string,
  unit: string,
): Promise<number> {
  return (await balances(ctx, psid))[unit] ?? 0;
}

export interface UnitSummary {
  readonly unit: string;
  /** Earned and not reversed. */
  readonly earned: number;
  /** Spent and not given back. */
  readonly spent: number;
  /** Managers' adjustments (±). */
  readonly adjusted: number;
  readonly balance: number;
}

/** A fan's ledger folded per unit (earned, spent, adjusted, balance), for "my invites". */
export async function ledgerSummary(
  ctx: Pick<LedgerContext, 'pageId'>,
  psid: string,
): Promise<UnitSummary[]> {
  const docs = await LedgerEntryModel.find(
    { pageId: String(ctx.pageId), psid: String(psid) },
    { kind: 1, amount: 1, unit: 1, idempotencyKey: 1 },
  )
    .limit(10_000)
    .lean<{ kind: LedgerKind; amount: number; unit: string; idempotencyKey: string }[]>();
  const by = new Map<string, { earned: number; spent: number; adjusted: number; balance: number }>();
  for (const d of docs) {
    const u = by.get(d.unit) ?? { earned: 0, spent: 0, adjusted: 0, balance: 0 };
    u.balance += d.amount;
    const ofSpend = d.idempotencyKey.startsWith('spend:');
    if (d.kind === 'earn' || (d.kind === 'reverse' && !ofSpend)) u.earned += d.amount;
    else if (d.kind === 'spend' || d.kind === 'reverse') u.spent -= d.amount;
    else u.adjusted += d.amount;
    by.set(d.unit, u);
  }
  return [...by].sort(([a], [b]) => a.localeCompare(b)).map(([unit, u]) => ({ unit, ...u }));
}

/**
 * Undoes one entry with an entry of the opposite amount, once (key `<its key>:reverse`). Returns
 * undefined when the entry does not exist.
 */
export async function reverseEntry(
  ctx: LedgerContext,
  idempotencyKey: string,
  reason: string,
): Promise<{ readonly created: boolean; readonly entry: LedgerEntryView } | undefined> {
  const original = await findEntry(idempotencyKey);
  if (!original) return undefined;
  return appendEntry(ctx, {
    psid: original.psid,
    kind: 'reverse',
    amount: -original.amount,
    unit: original.unit,
    idempotencyKey: reverseKeyOf(idempotencyKey),
    reason,
    orderId: original.orderId,
    referralId: original.referralId,
    campaignId: original.campaignId,
    reverses: original.id,
  });
}

/** `...:earn` → `...:reverse`; any other key gets `:reverse` appended. */
export function reverseKeyOf(key: string): string {
  return key.endsWith(':earn') ? `${key.slice(0, -':earn'.length)}:reverse` : `${key}:reverse`;
}

// ---------------------------------------------------------------------------------------------
// Spending credit

export function spendKey(pageId: string, orderId: string): string {
  return `spend:${pageId}:order:${orderId}`;
}

/** Credit the fan can spend now, in minor units of `currency`. */
export async function spendableCredit(
  ctx: Pick<LedgerContext, 'pageId'>,
  psid: string,
  currency: string,
): Promise<number> {
  return Math.max(0, await balance(ctx, psid, currency));
}

export type SpendResult =
  | { readonly ok: true; readonly amount: number; readonly created: boolean }
  | {
      readonly ok: false;
      readonly code: 'invalid_amount' | 'insufficient_credit';
      readonly available: number;
    };

/**
 * Spends `amount` of the fan's credit on an order (one `spend` entry keyed by the order: a retry
 * spends nothing more). Two spends racing for the same credit: each appends, then re-reads the
 * balance; one that finds it negative undoes itself with a compensating entry, so the balance never
 * stays below zero (at worst both give up and the fan retries).
 */
export async function spendCredit(
  ctx: LedgerContext,
  psid: string,
  orderId: string,
  amount: number,
  currency: string,
): Promise<SpendResult> {
  if (!Number.isSafeInteger(amount) || amount <= 0)
    return { ok: false, code: 'invalid_amount', available: 0 };
  const key = spendKey(ctx.pageId, orderId);
  const done = await findEntry(key);
  if (done) {
    const undone = await findEntry(reverseKeyOf(key));
    return undone
      ? { ok: false, code: 'insufficient_credit', available: await spendableCredit(ctx, psid, currency) }
      : { ok: true, amount: -done.amount, created: false };
  }
  const available = await spendableCredit(ctx, psid, currency);
  if (available < amount) return { ok: false, code: 'insufficient_credit', available };
  const written = await appendEntry(ctx, {
    psid,
    kind: 'spend',
    amount: -amount,
    unit: currency,
    idempotencyKey: key,
    reason: 'checkout',
    orderId,
  });
  if (!written.created) return { ok: true, amount: -written.entry.amount, created: false };
  if ((await balance(ctx, psid, currency)) < 0) {
    await reverseEntry(ctx, key, 'overdraft: a concurrent spend took the credit');
    return { ok: false, code: 'insufficient_credit', available: await spendableCredit(ctx, psid, currency) };
  }
  return { ok: true, amount, created: true };
}

/** Gives back what an order spent (its cancellation); no-op when it spent nothing or was given back. */
export async function refundSpend(ctx: LedgerContext, orderId: string): Promise<boolean> {
  const r = await reverseEntry(ctx, spendKey(ctx.pageId, orderId), 'order cancelled: credit given back');
  return r?.created ?? false;
}

/** The page's ledger, newest first, optionally for one fan. */
export async function listLedger(
  ctx: Pick<LedgerContext, 'pageId'>,
  query: {
    readonly psid?: string | undefined;
    readonly limit: number;
    readonly before?: Types.ObjectId | undefined;
  },
): Promise<LedgerEntryView[]> {
  const filter: Record<string, unknown> = { pageId: String(ctx.pageId) };
  if (query.psid) filter.psid = String(query.psid);
  if (query.before) filter._id = { $lt: query.before };
  const docs = await LedgerEntryModel.find(filter)
    .sort({ _id: -1 })
    .limit(query.limit)
    .lean<LedgerEntryDoc[]>();
  return docs.map(toLedgerView);
}
