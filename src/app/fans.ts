import { Types } from 'mongoose';
import { FanModel } from '../db/models/fan.js';

/**
 * Fan services for managers (and later the bot's privacy flow): search, tags, export and "forget me".
 * Expected failures are returned as `{ ok: false, code }`; outages throw.
 */

export interface FanServiceContext {
  readonly pageId: string;
  readonly now: Date;
}

export type FanFailure = { readonly ok: false; readonly code: 'fan_not_found' | 'fan_forgotten' };

export interface FanSearch {
  /** Words matched (case-insensitively, anywhere) against first or last name; all words must match. */
  readonly q?: string | undefined;
  readonly psid?: string | undefined;
  readonly tag?: string | undefined;
  readonly includeForgotten?: boolean | undefined;
}

export interface FanPage {
  readonly limit: number;
  /** Continue after this fan in (lastInteractionAt desc, _id desc) order. */
  readonly after?: { readonly key: Date; readonly id: Types.ObjectId } | undefined;
}

export interface FanView {
  readonly id: string;
  readonly psid: string;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly locale: string;
  readonly tags: string[];
  readonly interests: string[];
  readonly reachable: boolean;
  readonly marketingOptOut: boolean;
  readonly threadOwner: string;
  readonly firstInteractionAt: Date;
  readonly lastInteractionAt: Date;
  readonly arrival: { ref: string | null; source: string | null; at: Date | null } | null;
  /** Opt-ins without their tokens (those are credentials to message the fan). */
  readonly optIns: { channel: string; topic: string | null; status: string; createdAt: Date }[];
  readonly forgottenAt: Date | null;
}

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The query for a search. Every value is a string placed under a fixed key — never a client object. */
export function fanFilter(pageId: string, search: FanSearch): Record<string, unknown> {
  const and: Record<string, unknown>[] = [{ pageId: String(pageId) }];
  if (search.psid !== undefined) and.push({ psid: String(search.psid) });
  if (search.tag !== undefined) and.push({ tags: String(search.tag) });
  if (!search.includeForgotten) and.push({ forgottenAt: null });
  const words = (search.q ?? '').trim().split(/\s+/).filter(Boolean).slice(0, 5);
  for (const word of words) {
    const pattern = escapeRegex(String(word));
    and.push({
      $or: [
        { firstName: { $regex: pattern, $options: 'i' } },
        { lastName: { $regex: pattern, $options: 'i' } },
      ],
    });
  }
  return and.length === 1 ? and[0]! : { $and: and };
}

type FanLean = {
  _id: Types.ObjectId;
  psid: string;
  firstName?: string | null;
  lastName?: string | null;
  locale: string;
  tags?: string[];
  interests?: string[];
  reachable?: boolean | null;
  marketingOptOut?: boolean | null;
  threadOwner?: string | null;
  firstInteractionAt: Date;
  lastInteractionAt: Date;
  arrival?: { ref?: string | null; source?: string | null; at?: Date | null } | null;
  optIns?: { channel: string; topic?: string | null; status?: string | null; createdAt: Date }[];
  forgottenAt?: Date | null;
};

export function toFanView(doc: FanLean): FanView {
  const arrival =
    doc.arrival && (doc.arrival.ref || doc.arrival.source || doc.arrival.at) ? doc.arrival : null;
  return {
    id: String(doc._id),
    psid: doc.psid,
    firstName: doc.firstName ?? null,
    lastName: doc.lastName ?? null,
    locale: doc.locale,
    tags: doc.tags ?? [],
    interests: doc.interests ?? [],
    reachable: doc.reachable ?? true,
    marketingOptOut: doc.marketingOptOut ?? false,
    threadOwner: doc.threadOwner ?? 'bot',
    firstInteractionAt: doc.firstInteractionAt,
    lastInteractionAt: doc.lastInteractionAt,
    arrival: arrival
      ? { ref: arrival.ref ?? null, source: arrival.source ?? null, at: arrival.at ?? null }
      : null,
    optIns: (doc.optIns ?? []).map((o) => ({
      channel: o.channel,
      topic: o.topic ?? null,
      status: o.status ?? 'active',
      createdAt: o.createdAt,
    })),
    forgottenAt: doc.forgottenAt ?? null,
  };
}

export async function searchFans(
  ctx: FanServiceContext,
  search: FanSearch,
  page: FanPage,
): Promise<{ items: FanView[]; next: { key: Date; id: string } | null }> {
  let filter = fanFilter(ctx.pageId, search);
  if (page.after) {
    const { key, id } = page.after;
    filter = {
      $and: [
        filter,
        { $or: [{ lastInteractionAt: { $lt: key } }, { lastInteractionAt: key, _id: { $lt: id } }] },
      ],
    };
  }
  const docs = (await FanModel.find(filter)
    .sort({ lastInteractionAt: -1, _id: -1 })
    .limit(page.limit + 1)
    .lean()) as FanLean[];
  const more = docs.length > page.limit;
  const items = (more ? docs.slice(0, page.limit) : docs).map(toFanView);
  const last = items[items.length - 1];
  return { items, next: more && last ? { key: last.lastInteractionAt, id: last.id } : null };
}

export async function getFan(ctx: FanServiceContext, psid: string): Promise<FanView | undefined> {
  const doc = (await FanModel.findOne({ pageId: ctx.pageId, psid: String(psid) }).lean()) as FanLean | null;
  return doc ? toFanView(doc) : undefined;
}

async function failureFor(ctx: FanServiceContext, psid: string): Promise<FanFailure> {
  const exists = await FanModel.exists({ pageId: ctx.pageId, psid: String(psid) });
  return { ok: false, code: exists ? 'fan_forgotten' : 'fan_not_found' };
}

export type TagResult = { ok: true; before: string[]; after: string[] } | FanFailure;

export async function tagFan(ctx: FanServiceContext, psid: string, tag: string): Promise<TagResult> {
  const before = (await FanModel.findOneAndUpdate(
    { pageId: ctx.pageId, psid: String(psid), forgottenAt: null },
    { $addToSet: { tags: String(tag) }, $set: { updatedAt: ctx.now } },
    { returnDocument: 'before', timestamps: false },
  ).lean()) as FanLean | null;
  if (!before) return failureFor(ctx, psid);
  const tags = before.tags ?? [];
  return { ok: true, before: tags, after: tags.includes(tag) ? tags : [...tags, tag] };
}

export async function untagFan(ctx: FanServiceContext, psid: string, tag: string): Promise<TagResult> {
  const before = (await FanModel.findOneAndUpdate(
    { pageId: ctx.pageId, psid: String(psid), forgottenAt: null },
    { $pull: { tags: String(tag) }, $set: { updatedAt: ctx.now } },
    { returnDocument: 'before', timestamps: false },
  ).lean()) as FanLean | null;
  if (!before) return failureFor(ctx, psid);
  const tags = before.tags ?? [];
  return { ok: true, before: tags, after: tags.filter((t) => t !== tag) };
}

export type ForgetResult = { ok: true; alreadyForgotten: boolean; forgottenAt: Date } | FanFailure;

/**
 * Deletes a fan's personal data (names, tags, interests, opt-ins, arrival, profile and read/delivery
 * marks) and keeps an anonymised stub — page, PSID, locale, first/last interaction, reachability and
 * marketing opt-out — so counts stay right and a "STOP" stays honoured if the fan writes again.
 */
export async function forgetFan(ctx: FanServiceContext, psid: string): Promise<ForgetResult> {
  const res = await FanModel.updateOne(
    { pageId: ctx.pageId, psid: String(psid), forgottenAt: null },
    {
      $set: { tags: [], interests: [], optIns: [], forgottenAt: ctx.now, updatedAt: ctx.now },
      $unset: {
        firstName: '',
        lastName: '',
        arrival: '',
        profileFetchedAt: '',
        deliveredWatermark: '',
        readWatermark: '',
        unreachableReason: '',
      },
    },
    { timestamps: false },
  );
  if (res.matchedCount === 1) return { ok: true, alreadyForgotten: false, forgottenAt: ctx.now };
  const existing = (await FanModel.findOne({
    pageId: ctx.pageId,
    psid: String(psid),
  }).lean()) as FanLean | null;
  if (!existing) return { ok: false, code: 'fan_not_found' };
  return { ok: true, alreadyForgotten: true, forgottenAt: existing.forgottenAt ?? ctx.now };
}

const CSV_COLUMNS = [
  'psid',
  'firstName',
  'lastName',
  'locale',
  'tags',
  'reachable',
  'marketingOptOut',
  'firstInteractionAt',
  'lastInteractionAt',
  'arrivalRef',
  'arrivalSource',
] as const;

/** One CSV cell: quoted when needed, and defused against spreadsheet formula injection. */
export function csvCell(value: unknown): string {
  let text =
    value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(fan: FanView): string {
  const cells: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    psid: fan.psid,
    firstName: fan.firstName,
    lastName: fan.lastName,
    locale: fan.locale,
    tags: fan.tags.join(' '),
    reachable: fan.reachable,
    marketingOptOut: fan.marketingOptOut,
    firstInteractionAt: fan.firstInteractionAt,
    lastInteractionAt: fan.lastInteractionAt,
    arrivalRef: fan.arrival?.ref,
    arrivalSource: fan.arrival?.source,
  };
  return `${CSV_COLUMNS.map((c) => csvCell(cells[c])).join(',')}\r\n`;
}

/** Streams matching fans as CSV through a database cursor: memory stays flat whatever the page size. */
export async function* exportFansCsv(ctx: FanServiceContext, search: FanSearch): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  const cursor = FanModel.find(fanFilter(ctx.pageId, search))
    .sort({ lastInteractionAt: -1, _id: -1 })
    .lean()
    .cursor({ batchSize: 500 });
  try {
    let batch = '';
    let count = 0;
    for await (const doc of cursor) {
      batch += csvRow(toFanView(doc as FanLean));
      if (++count % 200 === 0) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
  } finally {
    await cursor.close();
  }
}
