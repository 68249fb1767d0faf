import { randomUUID } from 'node:crypto';
import { Types } from 'mongoose';
import { z } from 'zod';
import { BroadcastModel } from '../db/models/broadcast.js';
import { FanModel } from '../db/models/fan.js';
import { OutboxMessageModel } from '../db/models/outbox-message.js';
import { releaseLease, renewLease, tryAcquireLease } from '../db/leases.js';
import {
  BROADCAST_PURPOSES,
  checkUpdateContent,
  decideRecipient,
  DEFAULT_FREQUENCY_CAP,
  FINAL_STATES,
  messagingPurposeOf,
  tapPayload,
  transition,
  type BroadcastAction,
  type BroadcastPurpose,
  type BroadcastState,
  type FrequencyCap,
  type SkipReason,
} from '../domain/broadcast-state.js';
import { FAN_REACH_PROJECTION, segmentDefinitionSchema, type FanReachFields } from '../domain/segment.js';
import type { Logger } from '../log.js';
import {
  carousel,
  MessageLimitError,
  postback,
  quickReplies,
  text,
  truncate,
  withQuickReplies,
  type OutgoingMessage,
} from '../messenger/builders.js';
import { enqueueMessages, type OutgoingItem } from '../messenger/outbox/enqueue.js';
import type { OutboxListener } from '../messenger/outbox/sender.js';
import { sleep } from '../shared/backoff.js';
import { getSegment, parseSegmentDefinition, resolveSegmentFilter } from './segments.js';

/**
 * Broadcasts (narrowcast): create, schedule, start, pause, resume, cancel, stats — and the worker side
 * that turns a `sending` broadcast into outbox records.
 *
 * Delivery, in one paragraph: the segment's fans are read in `_id` order, one bounded query per batch
 * after the last committed `_id` (memory does not grow with the segment); each fan is decided with the
 * messaging policy (skips are counted by reason); the eligible ones get one outbox record each, keyed
 * `bc:<broadcastId>:<psid>` (a re-run is a no-op), inserted in batches of 500. After each batch the
 * broadcast's cursor position (last fan `_id`) and the batch's counters are committed in one atomic
 * update, so a crash resumes after the last committed batch and the unique key absorbs the overlap.
 * Queueing stays a bounded distance ahead of the sender (`maxBacklog` pending records), so replies to
 * fans are never stuck behind 100,000 queued promotions, and pause/cancel have little to undo. The
 * outbox sender does the rest at the page's rate.
 */

// -------------------------------------------------------------------------------------------------
// Input

const targetSchema = z
  .object({
    url: z.url().max(2000).optional(),
    /** A bot payload (e.g. `shop:v1`) the tap routes to. */
    payload: z
      .string()
      .max(200)
      .regex(/^[a-z][\w.-]*:v\d+(:[\w.-]+)*$/, 'must be a bot payload like shop:v1')
      .optional(),
  })
  .strict()
  .refine((t) => (t.url === undefined) !== (t.payload === undefined), {
    message: 'give exactly one of url, payload',
  });

const contentSchema = z
  .object({
    locale: z.enum(['it', 'en']),
    text: z.string().trim().min(1).max(2000),
    card: z
      .object({
        title: z.string().trim().min(1).max(80),
        subtitle: z.string().trim().min(1).max(80).optional(),
        imageUrl: z.url().optional(),
        button: z
          .object({ title: z.string().trim().min(1).max(20), target: targetSchema })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    quickReplies: z
      .array(z.object({ title: z.string().trim().min(1).max(20), target: targetSchema }).strict())
      .max(12)
      .optional(),
  })
  .strict();
export type BroadcastContent = z.infer<typeof contentSchema>;

export const broadcastInputSchema = z
  .object({
    name: z.string().trim().min(1).max(120),
    purpose: z.enum(BROADCAST_PURPOSES),
    contents: z
      .array(contentSchema)
      .min(1)
      .max(2)
      .refine((c) => new Set(c.map((x) => x.locale)).size === c.length, {
        message: 'one content per locale',
      }),
    segment: z.union([
      z.object({ id: z.string().regex(/^[0-9a-f]{24}$/, 'must be a segment id') }).strict(),
      z.object({ definition: segmentDefinitionSchema }).strict(),
    ]),
    scheduledAt: z.coerce.date().optional(),
    /** null: no cap. Default: at most 1 promotion per fan in 48 h. Promotions only. */
    frequencyCap: z
      .object({
        max: z.number().int().min(1).max(50),
        windowHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 30),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();
export type BroadcastInput = z.infer<typeof broadcastInputSchema>;

export interface BroadcastContext {
  readonly pageId: string;
  readonly now: Date;
  readonly actor?: { readonly id: string } | undefined;
}

export type BroadcastFailure =
  | { ok: false; code: 'broadcast_not_found' | 'segment_not_found' }
  | { ok: false; code: 'invalid_transition'; message: string; state: BroadcastState }
  | { ok: false; code: 'invalid_content' | 'invalid_segment' | 'unsupported_rule'; message: string };

export interface BroadcastView {
  readonly id: string;
  readonly name: string;
  readonly state: BroadcastState;
  readonly purpose: BroadcastPurpose;
  readonly contents: BroadcastContent[];
  readonly segmentId: string | null;
  readonly segmentDefinition: unknown;
  readonly scheduledAt: Date | null;
  readonly frequencyCap: FrequencyCap | null;
  readonly counters: BroadcastCounters;
  readonly skipped: Record<string, number>;
  readonly failedByCode: Record<string, number>;
  readonly refusedByReason: Record<string, number>;
  readonly clicksByButton: Record<string, number>;
  readonly queueingDone: boolean;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly completedAt: Date | null;
  readonly cancelledAt: Date | null;
}

export interface BroadcastCounters {
  targeted: number;
  queued: number;
  sent: number;
  failed: number;
  refused: number;
  cancelled: number;
  delivered: number;
  read: number;
  clicks: number;
}

const COUNTER_KEYS: (keyof BroadcastCounters)[] = [
  'targeted',
  'queued',
  'sent',
  'failed',
  'refused',
  'cancelled',
  'delivered',
  'read',
  'clicks',
];

type BroadcastDoc = {
  _id: Types.ObjectId;
  pageId: string;
  name: string;
  state: BroadcastState;
  purpose: BroadcastPurpose;
  contents: BroadcastContent[];
  segmentId?: Types.ObjectId | null;
  segmentDefinition: string;
  scheduledAt?: Date | null;
  frequencyCap?: { max?: number | null; windowHours?: number | null } | null;
  cursor?: {
    lastFanId?: Types.ObjectId | null;
    queueingStartedAt?: Date | null;
    queueingDoneAt?: Date | null;
  };
  counters?: Partial<BroadcastCounters>;
  skipped?: Record<string, number>;
  failedByCode?: Record<string, number>;
  refusedByReason?: Record<string, number>;
  clicksByButton?: Record<string, number>;
  createdAt?: Date;
  startedAt?: Date | null;
  completedAt?: Date | null;
  cancelledAt?: Date | null;
};

function capOf(doc: Pick<BroadcastDoc, 'frequencyCap'>): FrequencyCap | null {
  const c = doc.frequencyCap;
  return c && typeof c.max === 'number' && typeof c.windowHours === 'number'
    ? { max: c.max, windowHours: c.windowHours }
    : null;
}

/** Mongoose subdocuments come back with nulls for absent optional fields; the view drops them. */
function cleanContent(c: BroadcastContent): BroadcastContent {
  const strip = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as T;
  const out: BroadcastContent = { locale: c.locale, text: c.text };
  if (c.card) {
    out.card = strip({
      ...c.card,
      button: c.card.button ? { title: c.card.button.title, target: strip(c.card.button.target) } : undefined,
    });
  }
  if (c.quickReplies && c.quickReplies.length > 0) {
    out.quickReplies = c.quickReplies.map((q) => ({ title: q.title, target: strip(q.target) }));
  }
  return out;
}

function toView(doc: BroadcastDoc): BroadcastView {
  const counters = Object.fromEntries(
    COUNTER_KEYS.map((k) => [k, doc.counters?.[k] ?? 0]),
  ) as unknown as BroadcastCounters;
  return {
    id: String(doc._id),
    name: doc.name,
    state: doc.state,
    purpose: doc.purpose,
    contents: doc.contents.map(cleanContent),
    segmentId: doc.segmentId ? String(doc.segmentId) : null,
    segmentDefinition: JSON.parse(doc.segmentDefinition) as unknown,
    scheduledAt: doc.scheduledAt ?? null,
    frequencyCap: capOf(doc),
    counters,
    skipped: { ...(doc.skipped ?? {}) },
    failedByCode: { ...(doc.failedByCode ?? {}) },
    refusedByReason: { ...(doc.refusedByReason ?? {}) },
    clicksByButton: { ...(doc.clicksByButton ?? {}) },
    queueingDone: Boolean(doc.cursor?.queueingDoneAt),
    createdAt: doc.createdAt ?? new Date(0),
    startedAt: doc.startedAt ?? null,
    completedAt: doc.completedAt ?? null,
    cancelledAt: doc.cancelledAt ?? null,
  };
}

// -------------------------------------------------------------------------------------------------
// Messages

/**
 * The one message a fan gets, in their language. Without a card: the text (+ quick replies). With a
 * card: the card is the message (a generic template; the text is its subtitle when none is given),
 * its button a postback `bc.tap:v1:<id>:0`. Quick reply n (from 1) carries `bc.tap:v1:<id>:<n>`:
 * every tap is counted, then the bot routes it to its URL or payload (flows/broadcast.ts).
 */
export function buildBroadcastMessage(broadcastId: string, content: BroadcastContent): OutgoingMessage {
  const replies = (content.quickReplies ?? []).map((q, i) => ({
    title: q.title,
    payload: tapPayload(broadcastId, i + 1),
  }));
  if (!content.card) return replies.length > 0 ? quickReplies(content.text, replies) : text(content.text);
  const card = carousel([
    {
      title: content.card.title,
      subtitle: content.card.subtitle ?? truncate(content.text, 80),
      ...(content.card.imageUrl ? { imageUrl: content.card.imageUrl } : {}),
      ...(content.card.button
        ? { buttons: [postback(content.card.button.title, tapPayload(broadcastId, 0))] }
        : {}),
    },
  ]);
  return replies.length > 0 ? withQuickReplies(card, replies) : card;
}

/** The content for a fan's locale, or the first one. */
export function contentFor(
  contents: readonly BroadcastContent[],
  locale: string | null | undefined,
): BroadcastContent {
  return contents.find((c) => c.locale === locale) ?? contents[0]!;
}

/** The tap target of button n (0 = card button, 1.. = quick replies). */
export function tapTarget(
  content: BroadcastContent,
  n: number,
): { url?: string; payload?: string } | undefined {
  if (n === 0) return content.card?.button?.target;
  return content.quickReplies?.[n - 1]?.target;
}

// -------------------------------------------------------------------------------------------------
// Manager actions

/** Wakes the broadcast worker(s) of this process (the admin API in `all` role: "send now" starts now). */
const localWakers = new Set<() => void>();
function wakeLocalWorkers(): void {
  for (const w of localWakers) w();
}

export async function createBroadcast(
  ctx: BroadcastContext,
  raw: unknown,
): Promise<{ ok: true; broadcast: BroadcastView } | BroadcastFailure> {
  const parsed = broadcastInputSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      code: 'invalid_content',
      message: first ? `${first.path.join('.')}: ${first.message}` : 'invalid broadcast',
    };
  }
  const input = parsed.data;
  if (input.purpose === 'update') {
    const check = checkUpdateContent(input.contents);
    if (!check.ok) {
      return {
        ok: false,
        code: 'invalid_content',
        message: `an update broadcast is a plain, non-promotional account notice (${check.code}: ${check.detail}); send offers as purpose "promotion"`,
      };
    }
  }
  // Every locale's message must fit Meta's limits now, not fail 100,000 times later.
  try {
    for (const c of input.contents) buildBroadcastMessage('0'.repeat(24), c);
  } catch (error) {
    if (error instanceof MessageLimitError)
      return { ok: false, code: 'invalid_content', message: error.message };
    throw error;
  }
  let segmentId: Types.ObjectId | undefined;
  let definition: unknown;
  if ('id' in input.segment) {
    const segment = await getSegment(ctx, input.segment.id);
    if (!segment) return { ok: false, code: 'segment_not_found' };
    segmentId = new Types.ObjectId(segment.id);
    definition = segment.definition;
  } else {
    const checked = parseSegmentDefinition(input.segment.definition);
    if (!checked.ok) return { ok: false, code: checked.code, message: checked.message };
    definition = checked.definition;
  }
  const [doc] = await BroadcastModel.create([
    {
      pageId: ctx.pageId,
      name: input.name,
      purpose: input.purpose,
      contents: input.contents,
      segmentId,
      segmentDefinition: JSON.stringify(definition),
      frequencyCap: input.frequencyCap === null ? undefined : (input.frequencyCap ?? DEFAULT_FREQUENCY_CAP),
      createdBy: ctx.actor?.id,
    },
  ]);
  if (!doc) throw new Error('broadcast not created');
  // "No cap" is stored as null (the schema's default would put the 1-in-48 h cap back).
  if (input.frequencyCap === null) {
    await BroadcastModel.collection.updateOne({ _id: doc._id }, { $set: { frequencyCap: null } });
    doc.set('frequencyCap', null);
  }
  if (input.scheduledAt) {
    const scheduled = await scheduleBroadcast(ctx, String(doc._id), input.scheduledAt);
    if (!scheduled.ok) return scheduled;
    return scheduled;
  }
  return { ok: true, broadcast: toView(doc.toObject() as unknown as BroadcastDoc) };
}

export async function getBroadcast(ctx: BroadcastContext, id: string): Promise<BroadcastView | null> {
  if (!/^[0-9a-f]{24}$/.test(id)) return null;
  const doc = await BroadcastModel.collection.findOne({ _id: new Types.ObjectId(id), pageId: ctx.pageId });
  return doc ? toView(doc as unknown as BroadcastDoc) : null;
}

export async function listBroadcasts(
  ctx: BroadcastContext,
  page: { limit: number; before?: Types.ObjectId | undefined; state?: BroadcastState | undefined },
): Promise<{ items: BroadcastView[]; next: Types.ObjectId | null }> {
  const filter: Record<string, unknown> = { pageId: ctx.pageId };
  if (page.state) filter.state = String(page.state);
  if (page.before) filter._id = { $lt: page.before };
  const docs = (await BroadcastModel.collection
    .find(filter, { sort: { _id: -1 }, limit: page.limit + 1 })
    .toArray()) as unknown as BroadcastDoc[];
  const more = docs.length > page.limit;
  const slice = more ? docs.slice(0, page.limit) : docs;
  return { items: slice.map(toView), next: more ? (slice[slice.length - 1]?._id ?? null) : null };
}

/** One conditional update per transition: two managers clicking at once cannot both win. */
async function applyTransition(
  ctx: BroadcastContext,
  id: string,
  action: BroadcastAction,
  set: Record<string, unknown> = {},
): Promise<{ ok: true; doc: BroadcastDoc; from: BroadcastState } | BroadcastFailure> {
  if (!/^[0-9a-f]{24}$/.test(id)) return { ok: false, code: 'broadcast_not_found' };
  const _id = new Types.ObjectId(id);
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = (await BroadcastModel.collection.findOne({
      _id,
      pageId: ctx.pageId,
    })) as BroadcastDoc | null;
    if (!current) return { ok: false, code: 'broadcast_not_found' };
    const t = transition(current.state, action);
    if (!t.ok) {
      return {
        ok: false,
        code: 'invalid_transition',
        message: `cannot ${action} a ${current.state} broadcast`,
        state: current.state,
      };
    }
    const updated = (await BroadcastModel.collection.findOneAndUpdate(
      { _id, pageId: ctx.pageId, state: current.state },
      { $set: { state: t.to, updatedAt: ctx.now, ...set } },
      { returnDocument: 'after' },
    )) as BroadcastDoc | null;
    if (updated) return { ok: true, doc: updated, from: current.state };
  }
  return {
    ok: false,
    code: 'invalid_transition',
    message: 'the broadcast changed meanwhile; retry',
    state: 'draft',
  };
}

export async function scheduleBroadcast(
  ctx: BroadcastContext,
  id: string,
  at: Date,
): Promise<{ ok: true; broadcast: BroadcastView } | BroadcastFailure> {
  const r = await applyTransition(ctx, id, 'schedule', { scheduledAt: at });
  if (!r.ok) return r;
  wakeLocalWorkers();
  return { ok: true, broadcast: toView(r.doc) };
}

/** "Send now": queueing starts at once in this process's worker (and within a second in any other). */
export async function startBroadcast(
  ctx: BroadcastContext,
  id: string,
): Promise<{ ok: true; broadcast: BroadcastView } | BroadcastFailure> {
  const r = await applyTransition(ctx, id, 'start', { startedAt: ctx.now });
  if (!r.ok) return r;
  wakeLocalWorkers();
  return { ok: true, broadcast: toView(r.doc) };
}

/** Far in the future: the sender never finds a held record due. */
export const HELD_UNTIL = new Date('9999-01-01T00:00:00Z');
/**
 * A held record also moves to the back of its fan's queue (seq + shift), so a reply to a fan who writes
 * during a pause is not stuck behind the held promotion. Resume subtracts it again.
 */
const HELD_SEQ_SHIFT = 4e15;

function originFilter(id: string): Record<string, unknown> {
  return { 'origin.type': 'broadcast', 'origin.id': String(id) };
}

async function holdPending(id: string): Promise<number> {
  const r = await OutboxMessageModel.collection.updateMany(
    { ...originFilter(id), state: 'pending', nextAttemptAt: { $ne: HELD_UNTIL } },
    { $set: { nextAttemptAt: HELD_UNTIL }, $inc: { seq: HELD_SEQ_SHIFT } },
  );
  return r.modifiedCount;
}

async function releaseHeld(id: string, now: Date): Promise<number> {
  const r = await OutboxMessageModel.collection.updateMany(
    { ...originFilter(id), state: 'pending', nextAttemptAt: HELD_UNTIL },
    { $set: { nextAttemptAt: now }, $inc: { seq: -HELD_SEQ_SHIFT } },
  );
  return r.modifiedCount;
}

async function cancelPending(id: string, now: Date): Promise<number> {
  const r = await OutboxMessageModel.collection.updateMany(
    { ...originFilter(id), state: 'pending' },
    {
      $set: {
        state: 'cancelled',
        cancelledReason: 'broadcast_cancelled',
        cancelledAt: now,
        expiresAt: new Date(now.getTime() + 30 * 86_400_000),
      },
      $unset: { leaseUntil: '' },
    },
  );
  // No counter here: a record already in the sender's hands may still end `sent` (its send decides),
  // so `cancelled` is counted from the records when stats are read (see broadcastStats).
  return r.modifiedCount;
}

export async function pauseBroadcast(
  ctx: BroadcastContext,
  id: string,
): Promise<{ ok: true; broadcast: BroadcastView; held: number } | BroadcastFailure> {
  const r = await applyTransition(ctx, id, 'pause', { pausedAt: ctx.now });
  if (!r.ok) return r;
  const held = await holdPending(id);
  return { ok: true, broadcast: toView(r.doc), held };
}

export async function resumeBroadcast(
  ctx: BroadcastContext,
  id: string,
): Promise<{ ok: true; broadcast: BroadcastView; released: number } | BroadcastFailure> {
  const r = await applyTransition(ctx, id, 'resume', { pausedAt: null });
  if (!r.ok) return r;
  const released = await releaseHeld(id, ctx.now);
  wakeLocalWorkers();
  return { ok: true, broadcast: toView(r.doc), released };
}

export async function cancelBroadcast(
  ctx: BroadcastContext,
  id: string,
): Promise<{ ok: true; broadcast: BroadcastView; cancelled: number } | BroadcastFailure> {
  const r = await applyTransition(ctx, id, 'cancel', { cancelledAt: ctx.now });
  if (!r.ok) return r;
  const cancelled = await cancelPending(id, ctx.now);
  const doc = (await BroadcastModel.collection.findOne({ _id: r.doc._id })) as BroadcastDoc;
  return { ok: true, broadcast: toView(doc), cancelled };
}

export interface BroadcastStats {
  readonly id: string;
  readonly state: BroadcastState;
  readonly counters: BroadcastCounters;
  readonly skipped: Record<string, number>;
  readonly failedByCode: Record<string, number>;
  readonly refusedByReason: Record<string, number>;
  readonly clicksByButton: Record<string, number>;
  /** Outbox records of this broadcast still waiting to be sent (held ones included). */
  readonly pending: number;
  readonly queueingDone: boolean;
  /** Final: nothing more will change except delivered/read/clicks. */
  readonly done: boolean;
}

export async function broadcastStats(ctx: BroadcastContext, id: string): Promise<BroadcastStats | null> {
  const b = await getBroadcast(ctx, id);
  if (!b) return null;
  const pending = await OutboxMessageModel.collection.countDocuments({
    ...originFilter(id),
    state: 'pending',
  });
  const counters = { ...b.counters };
  if (b.state === 'cancelled') {
    // Final without a completion recount: the records are the truth (a send in hand at the cancel ends sent).
    counters.sent = await OutboxMessageModel.collection.countDocuments({
      ...originFilter(id),
      state: 'sent',
    });
    counters.cancelled = await OutboxMessageModel.collection.countDocuments({
      ...originFilter(id),
      state: 'cancelled',
    });
  }
  return {
    id: b.id,
    state: b.state,
    counters,
    skipped: b.skipped,
    failedByCode: b.failedByCode,
    refusedByReason: b.refusedByReason,
    clicksByButton: b.clicksByButton,
    pending,
    queueingDone: b.queueingDone,
    done: FINAL_STATES.includes(b.state),
  };
}

// -------------------------------------------------------------------------------------------------
// Fan side: taps, receipts, STOP

/** Counts a tap on button n and returns where it leads (undefined: unknown broadcast or button). */
export async function recordBroadcastClick(
  pageId: string,
  broadcastId: string,
  n: number,
  locale: string,
): Promise<{ url?: string; payload?: string } | undefined> {
  const _id = new Types.ObjectId(broadcastId);
  const doc = (await BroadcastModel.collection.findOne(
    { _id, pageId },
    { projection: { contents: 1 } },
  )) as Pick<BroadcastDoc, 'contents'> | null;
  if (!doc) return undefined;
  const target = tapTarget(contentFor(doc.contents, locale), n);
  if (!target) return undefined;
  await BroadcastModel.collection.updateOne(
    { _id },
    { $inc: { 'counters.clicks': 1, [`clicksByButton.${n}`]: 1 } },
  );
  return {
    ...(target.url ? { url: target.url } : {}),
    ...(target.payload ? { payload: target.payload } : {}),
  };
}

/**
 * A read watermark is Meta's time; our `sentAt` is taken after the Send API answered, so a message
 * Meta stamped just before the watermark may carry a `sentAt` slightly after it.
 */
const RECEIPT_SLACK_MS = 5_000;

/**
 * Delivery/read receipts → per-broadcast delivered/read counts. Cheap: one indexed lookup of the fan's
 * sent messages (queueKey + state), then a conditional update per newly delivered/read broadcast
 * message (the `deliveredAt`/`readAt` marks make every receipt count at most once). A delivery with
 * `mids` matches by message id; otherwise (and for reads) by `sentAt` ≤ watermark.
 */
export async function recordBroadcastReceipt(
  pageId: string,
  psid: string,
  kind: 'delivery' | 'read',
  watermark: Date,
  mids?: readonly string[],
): Promise<number> {
  const records = await OutboxMessageModel.collection
    .find(
      { queueKey: `fan:${psid}`, state: 'sent' },
      { projection: { pageId: 1, origin: 1, result: 1, sentAt: 1, deliveredAt: 1, readAt: 1 } },
    )
    .toArray();
  let counted = 0;
  const limit = watermark.getTime() + RECEIPT_SLACK_MS;
  for (const r of records) {
    if (r.pageId !== pageId || r.origin?.type !== 'broadcast' || !r.origin.id) continue;
    const sentAt = r.sentAt as Date | undefined;
    const byMid = mids && mids.length > 0 ? mids.includes(String(r.result?.messageId ?? '')) : undefined;
    const byTime = sentAt !== undefined && sentAt.getTime() <= limit;
    if (!(byMid ?? byTime)) continue;
    const inc: Record<string, number> = {};
    if (!r.deliveredAt) {
      const marked = await OutboxMessageModel.collection.updateOne(
        { _id: r._id, deliveredAt: { $exists: false } },
        { $set: { deliveredAt: watermark } },
      );
      if (marked.modifiedCount === 1) inc['counters.delivered'] = 1;
    }
    if (kind === 'read' && !r.readAt) {
      const marked = await OutboxMessageModel.collection.updateOne(
        { _id: r._id, readAt: { $exists: false } },
        { $set: { readAt: watermark } },
      );
      if (marked.modifiedCount === 1) inc['counters.read'] = 1;
    }
    if (Object.keys(inc).length > 0 && /^[0-9a-f]{24}$/.test(String(r.origin.id))) {
      await BroadcastModel.collection.updateOne(
        { _id: new Types.ObjectId(String(r.origin.id)) },
        { $inc: inc },
      );
      counted += 1;
    }
  }
  return counted;
}

/** STOP: no promotion ever again, on any channel (the sender checks it again at send time). */
export async function optOutOfPromotions(pageId: string, psid: string): Promise<boolean> {
  const r = await FanModel.collection.updateOne(
    { pageId, psid },
    { $set: { marketingOptOut: true, updatedAt: new Date() } },
  );
  return r.matchedCount === 1;
}

// -------------------------------------------------------------------------------------------------
// Worker side

/**
 * Sender outcomes → live per-broadcast counters. Increments are summed in memory and written as one
 * `$inc` per broadcast every second (not one write per send: at 250 sends/s that is 250 writes/s on
 * one hot document). A crash loses at most a second of live counts; completion recounts from the outbox.
 */
const pendingIncs = new Map<string, Record<string, number>>();
let flushTimer: NodeJS.Timeout | undefined;

async function flushOutcomeCounters(): Promise<void> {
  flushTimer = undefined;
  const entries = [...pendingIncs.entries()];
  pendingIncs.clear();
  // A completed broadcast's counters were recounted from its final records, these sends included:
  // counts still buffered here when it completed would count them twice.
  await Promise.all(
    entries.map(([id, inc]) =>
      BroadcastModel.collection.updateOne(
        { _id: new Types.ObjectId(id), state: { $ne: 'completed' } },
        { $inc: inc },
      ),
    ),
  );
}

export const broadcastOutcomeListener: OutboxListener = (record, outcome) => {
  if (record.origin?.type !== 'broadcast' || !record.origin.id || !/^[0-9a-f]{24}$/.test(record.origin.id))
    return;
  const inc = pendingIncs.get(record.origin.id) ?? {};
  const add = (k: string) => (inc[k] = (inc[k] ?? 0) + 1);
  if (outcome.state === 'sent') add('counters.sent');
  else if (outcome.state === 'failed') {
    add('counters.failed');
    add(`failedByCode.${outcome.code ?? outcome.kind}`);
  } else {
    add('counters.refused');
    add(`refusedByReason.${outcome.reason}`);
  }
  pendingIncs.set(record.origin.id, inc);
  flushTimer ??= setTimeout(() => void flushOutcomeCounters().catch(() => undefined), 1000);
};

/** Writes the counts not yet flushed (worker shutdown, tests). */
export async function flushBroadcastCounters(): Promise<void> {
  if (flushTimer) clearTimeout(flushTimer);
  await flushOutcomeCounters();
}

export interface BroadcastRuntime {
  readonly pageId: string;
  readonly log: Logger;
  readonly now: () => Date;
  /** Wakes the local outbox sender after a batch is queued. */
  readonly wakeSender?: () => void;
  /** Fans per batch (default 500). */
  readonly batchSize?: number;
  /** Queue at most this many pending records ahead of the sender (default 1,000 ≈ 4 s at 250/s). */
  readonly maxBacklog?: number;
  /** Test hook: called after each committed batch. */
  readonly onBatch?: (broadcastId: string, lastFanId: string) => void;
}

const QUEUE_LEASE_MS = 30_000;

interface ActiveQueue {
  readonly promise: Promise<void>;
}

/**
 * One per worker process. `tick()` is `startDueBroadcasts(now)`: it starts what is due, (re)starts
 * queueing for every `sending` broadcast whose cursor is not at the end (this is also crash recovery:
 * a restarted worker picks up after the last committed batch), and completes broadcasts whose records
 * are all final. Queueing itself runs in the background under a per-broadcast lease, so several workers
 * never queue the same broadcast at once.
 */
export class BroadcastWorker {
  private readonly holder = `broadcast-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly active = new Map<string, ActiveQueue>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly waker = () => this.wake();

  constructor(
    private readonly rt: BroadcastRuntime,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    localWakers.add(this.waker);
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    localWakers.delete(this.waker);
    this.wakeUp?.();
    await this.loop;
    await Promise.allSettled([...this.active.values()].map((a) => a.promise));
    await flushBroadcastCounters().catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.tick(this.rt.now());
      } catch (error) {
        this.rt.log.error({ err: error }, 'broadcast tick failed; retrying');
      }
      if (!this.running) break;
      if (this.woken) {
        this.woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  /**
   * One tick: the scheduling step (`startDueBroadcasts`), then queueing (re)started in the background
   * for every `sending` broadcast whose cursor is not at the end (crash recovery included).
   */
  async tick(now: Date): Promise<{ started: number; completed: number; queueing: number }> {
    const due = await startDueBroadcasts(this.rt.pageId, now, this.rt.log, (id) => this.active.has(id));
    for (const id of due.toQueue) if (!this.active.has(id) && this.running) this.startQueueing(id);
    return { started: due.started, completed: due.completed, queueing: this.active.size };
  }

  private startQueueing(id: string): void {
    const promise = this.queueWithLease(id)
      .catch((error: unknown) =>
        this.rt.log.error({ err: error, broadcast: id }, 'broadcast queueing failed; will retry'),
      )
      .finally(() => {
        this.active.delete(id);
        this.wake();
      });
    this.active.set(id, { promise });
  }

  private async queueWithLease(id: string): Promise<void> {
    const lease = `broadcast-queue:${id}`;
    if (!(await tryAcquireLease(lease, this.holder, QUEUE_LEASE_MS, this.rt.now()))) return;
    let renewedAt = Date.now();
    const keepLease = async (): Promise<boolean> => {
      if (Date.now() - renewedAt < QUEUE_LEASE_MS / 3) return true;
      renewedAt = Date.now();
      return renewLease(lease, this.holder, QUEUE_LEASE_MS, this.rt.now());
    };
    try {
      await queueBroadcast(this.rt, id, {
        shouldContinue: async () => this.running && (await keepLease()),
      });
    } finally {
      await releaseLease(lease, this.holder).catch(() => undefined);
    }
  }
}

/**
 * The scheduling step, safe to call from any instance at any time (the `broadcasts` job runs it every
 * minute; each worker's BroadcastWorker every second): scheduled → sending when `scheduledAt <= now`;
 * completes `sending` broadcasts whose queueing ended and whose records are all final; returns the
 * `sending` broadcasts that still need queueing (and wakes this process's worker to do it).
 */
export async function startDueBroadcasts(
  pageId: string,
  now: Date,
  log: Logger,
  queueingHere: (id: string) => boolean = () => false,
): Promise<{ started: number; completed: number; toQueue: string[] }> {
  let started = 0;
  for (;;) {
    const due = await BroadcastModel.collection.findOneAndUpdate(
      { state: 'scheduled', pageId, scheduledAt: { $lte: now } },
      { $set: { state: 'sending', startedAt: now, updatedAt: now } },
      { returnDocument: 'after' },
    );
    if (!due) break;
    started += 1;
    log.info({ broadcast: String(due._id) }, 'scheduled broadcast is due: sending');
  }
  const sending = (await BroadcastModel.collection
    .find({ state: 'sending', pageId }, { projection: { cursor: 1 } })
    .toArray()) as unknown as Pick<BroadcastDoc, '_id' | 'cursor'>[];
  let completed = 0;
  const toQueue: string[] = [];
  for (const b of sending) {
    const id = String(b._id);
    if (!b.cursor?.queueingDoneAt) toQueue.push(id);
    else if (!queueingHere(id) && (await completeIfFinished(id, now))) {
      completed += 1;
      log.info({ broadcast: id }, 'broadcast completed');
    }
  }
  if (toQueue.length > 0 || started > 0) wakeLocalWorkers();
  return { started, completed, toQueue };
}

/** Completes a `sending` broadcast whose queueing ended and whose records are all final; recounts. */
async function completeIfFinished(id: string, now: Date): Promise<boolean> {
  const pending = await OutboxMessageModel.collection.countDocuments({
    ...originFilter(id),
    state: 'pending',
  });
  if (pending > 0) return false;
  const truth = await recount(id);
  const r = await BroadcastModel.collection.updateOne(
    { _id: new Types.ObjectId(id), state: 'sending', 'cursor.queueingDoneAt': { $ne: null } },
    { $set: { state: 'completed', completedAt: now, updatedAt: now, ...truth } },
  );
  return r.modifiedCount === 1;
}

/**
 * The outbox is the truth: the live `$inc` counters can miss a send confirmed only by its echo after a
 * crash (no listener runs then), so completion recounts sent/failed/refused/cancelled from the records.
 */
async function recount(id: string): Promise<Record<string, unknown>> {
  const coll = OutboxMessageModel.collection;
  const base = originFilter(id);
  const [sent, cancelled] = await Promise.all([
    coll.countDocuments({ ...base, state: 'sent' }),
    coll.countDocuments({ ...base, state: 'cancelled' }),
  ]);
  const failedByCode: Record<string, number> = {};
  let failed = 0;
  for await (const r of coll.find({ ...base, state: 'failed' }, { projection: { lastError: 1 } })) {
    const code = String(r.lastError?.code ?? r.lastError?.kind ?? 'internal');
    failedByCode[code] = (failedByCode[code] ?? 0) + 1;
    failed += 1;
  }
  const refusedByReason: Record<string, number> = {};
  let refused = 0;
  for await (const r of coll.find({ ...base, state: 'refused' }, { projection: { refusedReason: 1 } })) {
    const reason = String(r.refusedReason ?? 'unknown');
    refusedByReason[reason] = (refusedByReason[reason] ?? 0) + 1;
    refused += 1;
  }
  return {
    'counters.sent': sent,
    'counters.failed': failed,
    'counters.refused': refused,
    'counters.cancelled': cancelled,
    failedByCode,
    refusedByReason,
  };
}

/**
 * Queues a `sending` broadcast from its committed cursor position until the segment ends, the
 * broadcast leaves `sending` (pause/cancel), or `shouldContinue` says stop. Safe to run again after a
 * crash: it restarts after the last committed batch and the idempotency keys absorb the overlap.
 */
export async function queueBroadcast(
  rt: BroadcastRuntime,
  id: string,
  opts: { shouldContinue?: () => Promise<boolean> } = {},
): Promise<'done' | 'stopped' | 'not_sending'> {
  const _id = new Types.ObjectId(id);
  const batchSize = rt.batchSize ?? 500;
  const maxBacklog = rt.maxBacklog ?? 1000;
  const shouldContinue = opts.shouldContinue ?? (async () => true);
  const found = (await BroadcastModel.collection.findOne({ _id })) as BroadcastDoc | null;
  if (!found || found.state !== 'sending') return 'not_sending';
  const doc = found;
  if (doc.cursor?.queueingDoneAt) return 'done';
  const startNow = rt.now();
  const definition = segmentDefinitionSchema.parse(JSON.parse(doc.segmentDefinition));
  const { filter } = await resolveSegmentFilter(doc.pageId, definition, startNow);
  if (!doc.cursor?.queueingStartedAt) {
    await BroadcastModel.collection.updateOne({ _id }, { $set: { 'cursor.queueingStartedAt': startNow } });
  }
  const purpose = doc.purpose;
  const cap = purpose === 'promotion' ? capOf(doc) : null;
  const messages = new Map<string, OutgoingMessage>();
  const messageFor = (locale: string | null | undefined): OutgoingMessage => {
    const content = contentFor(doc.contents, locale);
    let m = messages.get(content.locale);
    if (!m) {
      m = buildBroadcastMessage(id, content);
      messages.set(content.locale, m);
    }
    return m;
  };

  let lastFanId = doc.cursor?.lastFanId ?? null;
  let batch: (FanReachFields & { _id: Types.ObjectId })[] = [];
  /**
   * The batch after the committed position: keyset pagination (`_id > last`, sorted, limited) rather
   * than one cursor over the segment, so each read costs one batch (the `_id` index on MongoDB, the
   * `_id` order on the embedded server) and no server cursor over 100,000 fans stays open between
   * batches while queueing waits for the sender.
   */
  const readBatch = async (): Promise<void> => {
    const after = lastFanId ? { $and: [filter, { _id: { $gt: lastFanId } }] } : filter;
    batch = (await FanModel.collection
      .find(after, { projection: FAN_REACH_PROJECTION, sort: { _id: 1 }, limit: batchSize, batchSize })
      .toArray()) as unknown as (FanReachFields & { _id: Types.ObjectId })[];
  };

  /** Waits while the sender is more than `maxBacklog` records behind. false: stop. */
  const waitForRoom = async (): Promise<boolean> => {
    for (;;) {
      if (!(await shouldContinue())) return false;
      const pending = await OutboxMessageModel.collection.countDocuments({
        ...originFilter(id),
        state: 'pending',
      });
      if (pending + batchSize <= maxBacklog) return true;
      const fresh = await BroadcastModel.collection.findOne({ _id }, { projection: { state: 1 } });
      if (fresh?.state !== 'sending') return false;
      await sleep(100);
    }
  };

  const flush = async (): Promise<boolean> => {
    if (batch.length === 0) return true;
    if (!(await waitForRoom())) return false;
    const now = rt.now();
    const recent = cap
      ? await recentPromotions(
          batch.map((f) => f.psid),
          id,
          now,
          cap,
        )
      : new Map<string, number>();
    const skipped: Partial<Record<SkipReason, number>> = {};
    const items: OutgoingItem[] = [];
    for (const fan of batch) {
      const d = decideRecipient(fan, { purpose, now, recentPromotions: recent.get(fan.psid) ?? 0, cap });
      if (!d.send) {
        skipped[d.reason] = (skipped[d.reason] ?? 0) + 1;
        continue;
      }
      items.push({
        pageId: doc.pageId,
        idempotencyKey: `bc:${id}:${fan.psid}`,
        kind: 'message',
        recipient: { psid: fan.psid },
        purpose: messagingPurposeOf(purpose),
        body: messageFor(fan.locale) as unknown as Record<string, unknown>,
        origin: { type: 'broadcast', id },
      });
    }
    const result = await enqueueMessages(items, now);
    const newLast = batch[batch.length - 1]!._id;
    const inc: Record<string, number> = {
      'counters.targeted': batch.length,
      // A duplicate is our own key from a batch whose commit was lost in a crash: it is queued.
      'counters.queued': result.created + result.duplicates,
    };
    for (const [reason, n] of Object.entries(skipped)) inc[`skipped.${reason}`] = n;
    // Commit position and counts together, only if still sending from where we started.
    const committed = await BroadcastModel.collection.updateOne(
      { _id, state: 'sending', 'cursor.lastFanId': lastFanId },
      { $set: { 'cursor.lastFanId': newLast, updatedAt: now }, $inc: inc },
    );
    if (committed.modifiedCount !== 1) {
      // Paused or cancelled while this batch was written: apply the same to the records just added.
      const fresh = (await BroadcastModel.collection.findOne({ _id })) as BroadcastDoc | null;
      if (fresh?.state === 'paused') await holdPending(id);
      else if (fresh?.state === 'cancelled') await cancelPending(id, now);
      return false;
    }
    lastFanId = newLast;
    batch = [];
    if (result.created > 0) rt.wakeSender?.();
    rt.onBatch?.(id, String(newLast));
    return true;
  };

  for (;;) {
    await readBatch();
    const full = batch.length === batchSize;
    if (!(await flush())) return 'stopped';
    if (!full) break;
  }
  const done = await BroadcastModel.collection.updateOne(
    { _id, state: 'sending', 'cursor.lastFanId': lastFanId },
    { $set: { 'cursor.queueingDoneAt': rt.now() } },
  );
  return done.modifiedCount === 1 ? 'done' : 'stopped';
}

/**
 * How many promotions each fan got or has queued inside the cap's window, from other broadcasts or
 * features. One query per batch, served by the (queueKey, state, seq) index: ≤ 500 fans × 2 states.
 */
async function recentPromotions(
  psids: readonly string[],
  broadcastId: string,
  now: Date,
  cap: FrequencyCap,
): Promise<Map<string, number>> {
  const since = now.getTime() - cap.windowHours * 3_600_000;
  const out = new Map<string, number>();
  const records = await OutboxMessageModel.collection
    .find(
      { queueKey: { $in: psids.map((p) => `fan:${p}`) }, state: { $in: ['pending', 'sent'] } },
      { projection: { queueKey: 1, purpose: 1, createdAt: 1, sentAt: 1, origin: 1 } },
    )
    .toArray();
  for (const r of records) {
    if (r.purpose !== 'promotion' || r.origin?.id === broadcastId) continue;
    const at = ((r.sentAt as Date | undefined) ?? (r.createdAt as Date)).getTime();
    if (at < since) continue;
    const psid = String(r.queueKey).slice(4);
    out.set(psid, (out.get(psid) ?? 0) + 1);
  }
  return out;
}
