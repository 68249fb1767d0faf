import mongoose, { Types } from 'mongoose';
import { FanModel } from '../db/models/fan.js';
import { SegmentModel } from '../db/models/segment.js';
import {
  decideRecipient,
  DEFAULT_FREQUENCY_CAP,
  SKIP_REASONS,
  type BroadcastPurpose,
  type SkipReason,
} from '../domain/broadcast-state.js';
import {
  compileSegment,
  FAN_REACH_PROJECTION,
  reachBucket,
  segmentDefinitionSchema,
  withPsidLists,
  type FanReachFields,
  type ReachBucket,
  type SegmentDefinition,
} from '../domain/segment.js';

/**
 * Segments for managers: save, list, and preview (size + who can be reached now, and how). Counting
 * streams the matching fans with a cursor (memory stays flat at any size) and asks the messaging policy
 * about each one, so the preview says exactly what queueing a broadcast would decide.
 */

export interface SegmentContext {
  readonly pageId: string;
  readonly now: Date;
  readonly actor?: { readonly id: string } | undefined;
}

export type SegmentFailure =
  | { ok: false; code: 'segment_not_found' }
  | { ok: false; code: 'invalid_segment'; message: string; issues?: unknown }
  | { ok: false; code: 'unsupported_rule'; message: string; rules: string[] };

export interface SegmentView {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly definition: SegmentDefinition;
  readonly createdAt: Date;
  readonly lastPreview: { at: Date; size: number } | null;
}

/** Parses and checks a definition (JSON value or text). */
export function parseSegmentDefinition(
  raw: unknown,
): { ok: true; definition: SegmentDefinition } | Exclude<SegmentFailure, { code: 'segment_not_found' }> {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, code: 'invalid_segment', message: 'the segment is not valid JSON' };
    }
  }
  const parsed = segmentDefinitionSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      code: 'invalid_segment',
      message: first ? `${first.path.join('.') || 'segment'}: ${first.message}` : 'invalid segment',
      issues: parsed.error.issues,
    };
  }
  const compiled = compileSegment(parsed.data, { pageId: 'check', now: new Date(0) });
  if (compiled.unsupported.length > 0) {
    return {
      ok: false,
      code: 'unsupported_rule',
      message: compiled.unsupported.map((u) => `${u.rule}: ${u.reason}`).join('; '),
      rules: compiled.unsupported.map((u) => u.rule),
    };
  }
  return { ok: true, definition: parsed.data };
}

function toView(doc: {
  _id: Types.ObjectId;
  name: string;
  description?: string | null;
  definition: string;
  createdAt?: Date;
  lastPreview?: { at?: Date | null; size?: number | null } | null;
}): SegmentView {
  return {
    id: String(doc._id),
    name: doc.name,
    description: doc.description ?? null,
    definition: segmentDefinitionSchema.parse(JSON.parse(doc.definition)),
    createdAt: doc.createdAt ?? new Date(0),
    lastPreview:
      doc.lastPreview?.at && typeof doc.lastPreview.size === 'number'
        ? { at: doc.lastPreview.at, size: doc.lastPreview.size }
        : null,
  };
}

export async function saveSegment(
  ctx: SegmentContext,
  input: { name: string; description?: string | undefined; definition: unknown },
): Promise<{ ok: true; segment: SegmentView } | SegmentFailure> {
  const parsed = parseSegmentDefinition(input.definition);
  if (!parsed.ok) return parsed;
  const doc = await SegmentModel.create({
    pageId: ctx.pageId,
    name: input.name,
    description: input.description,
    definition: JSON.stringify(parsed.definition),
    createdBy: ctx.actor?.id,
  });
  return { ok: true, segment: toView(doc.toObject()) };
}

export async function getSegment(ctx: SegmentContext, id: string): Promise<SegmentView | null> {
  if (!Types.ObjectId.isValid(id)) return null;
  const doc = await SegmentModel.findOne({ _id: new Types.ObjectId(id), pageId: ctx.pageId }).lean();
  return doc ? toView(doc as Parameters<typeof toView>[0]) : null;
}

export async function listSegments(
  ctx: SegmentContext,
  page: { limit: number; before?: Types.ObjectId | undefined },
): Promise<{ items: SegmentView[]; next: Types.ObjectId | null }> {
  const filter: Record<string, unknown> = { pageId: ctx.pageId };
  if (page.before) filter._id = { $lt: page.before };
  const docs = await SegmentModel.find(filter)
    .sort({ _id: -1 })
    .limit(page.limit + 1)
    .lean();
  const more = docs.length > page.limit;
  const slice = (more ? docs.slice(0, page.limit) : docs) as Parameters<typeof toView>[0][];
  return { items: slice.map(toView), next: more ? (slice[slice.length - 1]?._id ?? null) : null };
}

// -------------------------------------------------------------------------------------------------
// From rules to a fans query

/** Replaces the domain's `{$campaignIdRef: id}` markers with both stored forms of the id. */
function resolveCampaignRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolveCampaignRefs);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const obj = value as Record<string, unknown>;
  if (typeof obj.$campaignIdRef === 'string') {
    const id = obj.$campaignIdRef;
    return {
      $in: Types.ObjectId.isValid(id) && /^[0-9a-f]{24}$/i.test(id) ? [id, new Types.ObjectId(id)] : [id],
    };
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveCampaignRefs(v)]));
}

async function collectionExists(name: string): Promise<boolean> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('no database connection');
  const found = await db.listCollections({ name }, { nameOnly: true }).toArray();
  return found.length > 0;
}

/**
 * The `fans` filter for a segment, with the pre-queries run (PSID lists of carts, pledges, orders).
 * A collection that does not exist yet simply holds no PSIDs: "joined campaign X" matches nobody.
 */
export async function resolveSegmentFilter(
  pageId: string,
  definition: SegmentDefinition,
  now: Date,
): Promise<{ filter: Record<string, unknown>; missingCollections: string[] }> {
  const compiled = compileSegment(definition, { pageId, now });
  if (compiled.unsupported.length > 0) {
    throw new Error(`unsupported segment rules: ${compiled.unsupported.map((u) => u.rule).join(', ')}`);
  }
  const db = mongoose.connection.db;
  if (!db) throw new Error('no database connection');
  const lists: { mode: 'in' | 'nin'; psids: string[] }[] = [];
  const missingCollections: string[] = [];
  for (const q of compiled.preQueries) {
    if (!(await collectionExists(q.collection))) {
      if (!missingCollections.includes(q.collection)) missingCollections.push(q.collection);
      lists.push({ mode: q.mode, psids: [] });
      continue;
    }
    const psids = (await db
      .collection(q.collection)
      .distinct(q.field, resolveCampaignRefs(q.filter) as Record<string, unknown>)) as unknown[];
    lists.push({ mode: q.mode, psids: psids.filter((p): p is string => typeof p === 'string') });
  }
  return { filter: withPsidLists(compiled.filter, lists), missingCollections };
}

// -------------------------------------------------------------------------------------------------
// Preview

export interface ReachPreview {
  readonly size: number;
  /** How each fan can be reached now, whatever the message. */
  readonly reach: Record<ReachBucket, number>;
  /** What a broadcast of this purpose would do now: queued, or skipped with its reason. */
  readonly forPurpose: {
    readonly purpose: BroadcastPurpose;
    readonly wouldSend: number;
    readonly tagged: number;
    readonly skipped: Record<SkipReason, number>;
  };
  readonly optedOut: number;
  readonly byLocale: Record<string, number>;
  readonly missingCollections: string[];
  readonly notes: string[];
  readonly at: Date;
}

const PREVIEW_BATCH = 1000;

/**
 * Streams the segment's fans (projection of the policy's fields only, batches of 1,000) and classifies
 * each with the same functions queueing uses. The frequency cap is not applied here (it depends on
 * other broadcasts at send time): the counts are "before the cap".
 */
export async function previewDefinition(
  ctx: SegmentContext,
  definition: SegmentDefinition,
  purpose: BroadcastPurpose = 'promotion',
): Promise<ReachPreview> {
  const { filter, missingCollections } = await resolveSegmentFilter(ctx.pageId, definition, ctx.now);
  const reach: Record<ReachBucket, number> = { window: 0, optin: 0, updatesOnly: 0, unreachable: 0 };
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  const byLocale: Record<string, number> = {};
  let size = 0;
  let wouldSend = 0;
  let tagged = 0;
  let optedOut = 0;
  const cursor = FanModel.collection.find(filter, {
    projection: FAN_REACH_PROJECTION,
    batchSize: PREVIEW_BATCH,
  });
  try {
    for await (const doc of cursor) {
      const fan = doc as unknown as FanReachFields;
      size += 1;
      reach[reachBucket(fan, ctx.now)] += 1;
      if (fan.marketingOptOut === true) optedOut += 1;
      const locale = fan.locale ?? 'unknown';
      byLocale[locale] = (byLocale[locale] ?? 0) + 1;
      const d = decideRecipient(fan, {
        purpose,
        now: ctx.now,
        recentPromotions: 0,
        cap: DEFAULT_FREQUENCY_CAP,
      });
      if (d.send) {
        wouldSend += 1;
        if (d.messagingType === 'MESSAGE_TAG') tagged += 1;
      } else skipped[d.reason] += 1;
    }
  } finally {
    await cursor.close();
  }
  const notes: string[] = [];
  if (reach.optin > 0) {
    notes.push(
      `${reach.optin} fan(s) are reachable outside the window only through Marketing Messages; the sender does not deliver through that channel yet, so a promotion skips them (optin_channel_unsupported).`,
    );
  }
  if (purpose === 'promotion' && reach.updatesOnly > 0) {
    notes.push(
      `${reach.updatesOnly} fan(s) are outside their 24 h window: a promotion cannot reach them until they write again.`,
    );
  }
  for (const c of missingCollections) {
    notes.push(
      `the ${c} collection does not exist yet: rules that read it match nobody (or exclude nobody).`,
    );
  }
  return {
    size,
    reach,
    forPurpose: { purpose, wouldSend, tagged, skipped },
    optedOut,
    byLocale,
    missingCollections,
    notes,
    at: ctx.now,
  };
}

export async function previewSegment(
  ctx: SegmentContext,
  id: string,
  purpose: BroadcastPurpose = 'promotion',
): Promise<{ ok: true; preview: ReachPreview } | SegmentFailure> {
  const segment = await getSegment(ctx, id);
  if (!segment) return { ok: false, code: 'segment_not_found' };
  const preview = await previewDefinition(ctx, segment.definition, purpose);
  await SegmentModel.collection.updateOne(
    { _id: new Types.ObjectId(id) },
    {
      $set: {
        lastPreview: {
          at: preview.at,
          size: preview.size,
          window: preview.reach.window,
          optin: preview.reach.optin,
          updatesOnly: preview.reach.updatesOnly,
          unreachable: preview.reach.unreachable,
        },
      },
    },
  );
  return { ok: true, preview };
}
